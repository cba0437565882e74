// Browser start-up, the network guard, the control channel to tests/browser.rs, and the
// bounded waits that the scenarios share.

import { createInterface } from "node:readline";

import { chromium } from "playwright-core";

/** Debian's chromium. The harness never downloads a browser of its own. */
export const CHROMIUM_PATH = "/usr/bin/chromium";

/** Maximum wait, in milliseconds, for one element, text, response or navigation. */
export const WAIT_MS = 10000;

/** Maximum wait, in milliseconds, for a page that reloads itself every 3 seconds. */
export const RELOAD_WAIT_MS = 12000;

/** Time between two looks at a condition in `waitUntil`, in milliseconds. */
const POLL_MS = 100;

/** Maximum wait, in milliseconds, for the browser to start or to close. */
const BROWSER_START_MS = 20000;
const BROWSER_CLOSE_MS = 5000;

/** Maximum wait, in milliseconds, for tests/browser.rs to carry out a control action. */
const CONTROL_REPLY_MS = 15000;

/**
 * Flags that turn off first-run pages, component updates, sync and background requests.
 * Chromium 156 still calls some Google services with them, which BrowserRun.start handles.
 * `--no-sandbox` is there because chromium does not start as root without it.
 */
const QUIET_BROWSER_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export function sleep(milliseconds) {
  return new Promise((resolve) => setTimeout(resolve, milliseconds));
}

/**
 * Calls `check` until it returns `{ ok: true }` and returns its `value`. Throws after
 * `timeoutMs`, naming `description` and what `check` last reported as `seen`. A `check`
 * that throws counts as not yet true, because a page that is navigating throws on reads.
 */
export async function waitUntil(description, check, timeoutMs = WAIT_MS) {
  const deadline = Date.now() + timeoutMs;
  let seen = "nothing";
  for (;;) {
    try {
      const result = await check();
      if (result.ok) {
        return result.value;
      }
      seen = result.seen;
    } catch (error) {
      seen = `an error: ${error.message.split("\n")[0]}`;
    }
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${description}; last saw ${seen}`);
    }
    await sleep(POLL_MS);
  }
}

/**
 * Waits until the element `selector` has text matching `expected`, a string (compared
 * whole, after trimming) or a RegExp, and returns that text.
 */
export async function waitForText(page, selector, expected, timeoutMs = WAIT_MS) {
  return waitUntil(
    `${selector} to show ${expected instanceof RegExp ? expected : JSON.stringify(expected)}`,
    async () => {
      const text = (await page.locator(selector).textContent({ timeout: POLL_MS })).trim();
      const ok = expected instanceof RegExp ? expected.test(text) : text === expected;
      return { ok, value: text, seen: JSON.stringify(text) };
    },
    timeoutMs,
  );
}

/** Waits until the page's title is `expected`. */
export async function waitForTitle(page, expected, timeoutMs = WAIT_MS) {
  return waitUntil(
    `the title ${JSON.stringify(expected)}`,
    async () => {
      const title = await page.title();
      return { ok: title === expected, value: title, seen: JSON.stringify(title) };
    },
    timeoutMs,
  );
}

/** Waits until the page's URL, as a string, is `expected`. */
export async function waitForUrl(page, expected, timeoutMs = WAIT_MS) {
  return waitUntil(
    `the URL ${expected}`,
    async () => ({ ok: page.url() === expected, value: page.url(), seen: page.url() }),
    timeoutMs,
  );
}

/** Sends `GET path` from Node, outside the browser, with `cookie` as the session cookie. */
export async function fetchWithSessionCookie(baseUrl, path, cookie) {
  return fetch(new URL(path, baseUrl), {
    headers: { Cookie: `session=${cookie}` },
    redirect: "manual",
    signal: AbortSignal.timeout(WAIT_MS),
  });
}

/**
 * The control channel to tests/browser.rs. The harness prints `control ACTION` on its
 * standard output and reads `done ACTION` or `failed ACTION: REASON` from its standard input.
 */
class ControlChannel {
  constructor() {
    this.lines = [];
    this.waiting = null;
    this.input = createInterface({ input: process.stdin });
    this.input.on("line", (line) => {
      if (this.waiting === null) {
        this.lines.push(line);
      } else {
        const resolve = this.waiting;
        this.waiting = null;
        resolve(line);
      }
    });
  }

  nextLine() {
    if (this.lines.length > 0) {
      return Promise.resolve(this.lines.shift());
    }
    return new Promise((resolve) => {
      this.waiting = resolve;
    });
  }

  /** Sends `action` to tests/browser.rs and waits until it is done. */
  async request(action) {
    console.log(`control ${action}`);
    let timer;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`no reply to control action ${action} within ${CONTROL_REPLY_MS} ms`)),
        CONTROL_REPLY_MS,
      );
    });
    try {
      const reply = await Promise.race([this.nextLine(), timeout]);
      if (reply !== `done ${action}`) {
        const reason = reply.replace(`failed ${action}: `, "");
        throw new Error(`control action ${action} failed: ${reason}`);
      }
    } finally {
      clearTimeout(timer);
    }
  }

  close() {
    this.input.close();
  }
}

/**
 * A chromium with a fresh profile and one page, plus what the guards recorded: requests to
 * hosts other than the test servers (aborted), Content-Security-Policy violations, console
 * errors, uncaught page errors and dialogs.
 */
export class BrowserRun {
  /**
   * `allowedOrigins` are the only origins the page may request. `proxyPort` is a loopback
   * port where tests/browser.rs records connections. Chromium sends there every request that
   * is not to a loopback address or a `proxyBypass` host, so nothing leaves the machine.
   * `closedPort` is a loopback port where nothing listens. `profileDir` is an empty folder
   * for the browser profile, which tests/browser.rs deletes afterwards.
   */
  static async start({
    allowedOrigins,
    proxyPort,
    closedPort,
    profileDir,
    proxyBypass = [],
    hostResolverRules = null,
  }) {
    // Debian's chromium still calls these Google services with the quiet flags above (seen
    // with chromium 156), so they are pointed at a closed loopback port.
    const closedUrl = `http://127.0.0.1:${closedPort}/`;
    const args = [
      ...QUIET_BROWSER_ARGS,
      `--component-updater=url-source=${closedUrl}`,
      `--gaia-url=${closedUrl}`,
      `--autofill-server-url=${closedUrl}`,
      `--proxy-server=http://127.0.0.1:${proxyPort}`,
      // Chromium sends requests to loopback addresses directly, so only other hosts are listed.
      `--proxy-bypass-list=${proxyBypass.join(";")}`,
    ];
    if (hostResolverRules !== null) {
      args.push(`--host-resolver-rules=${hostResolverRules}`);
    }

    const context = await chromium.launchPersistentContext(profileDir, {
      executablePath: CHROMIUM_PATH,
      headless: true,
      // Playwright turns the back/forward cache off by default. Users have it on, and the
      // back button after logout must not bring the dashboard back from it.
      ignoreDefaultArgs: ["--disable-back-forward-cache"],
      args,
      timeout: BROWSER_START_MS,
      viewport: { width: 1280, height: 800 },
    });

    const run = new BrowserRun(context, new Set(allowedOrigins));
    await run.installGuards();
    run.page = context.pages()[0] ?? (await context.newPage());
    run.watchPage(run.page);
    return run;
  }

  constructor(context, allowedOrigins) {
    this.context = context;
    this.allowedOrigins = allowedOrigins;
    this.page = null;
    this.control = new ControlChannel();
    this.blockedRequests = [];
    this.cspViolations = [];
    this.consoleErrors = [];
    this.pageErrors = [];
    this.dialogs = [];
  }

  async installGuards() {
    await this.context.route("**/*", (route) => {
      const url = route.request().url();
      if (this.allowedOrigins.has(new URL(url).origin)) {
        return route.continue();
      }
      this.blockedRequests.push(url);
      return route.abort("blockedbyclient");
    });

    await this.context.exposeBinding("reportCspViolation", (_source, violation) => {
      this.cspViolations.push(violation);
    });
    // Init scripts and bindings come in through the DevTools protocol, so the page's own CSP
    // does not block this listener.
    await this.context.addInitScript(() => {
      document.addEventListener(
        "securitypolicyviolation",
        (event) => {
          window.reportCspViolation({
            page: document.location.href,
            directive: event.effectiveDirective,
            blockedUri: event.blockedURI,
            sample: event.sample,
          });
        },
        true,
      );
    });
  }

  watchPage(page) {
    page.setDefaultTimeout(WAIT_MS);
    page.setDefaultNavigationTimeout(WAIT_MS);
    page.on("console", (message) => {
      if (message.type() === "error") {
        this.consoleErrors.push({ text: message.text(), url: message.location().url || page.url() });
      }
    });
    page.on("pageerror", (error) => {
      this.pageErrors.push(`${error.message} (at ${page.url()})`);
    });
    page.on("dialog", (dialog) => {
      this.dialogs.push(`${dialog.type()}: ${dialog.message()}`);
      dialog.dismiss().catch(() => {});
    });
  }

  /** Throws if a request to another host was attempted, or the page opened a dialog. */
  assertStayedOnTestServers() {
    if (this.blockedRequests.length > 0) {
      throw new Error(`the page requested other hosts: ${this.blockedRequests.join(", ")}`);
    }
    if (this.dialogs.length > 0) {
      throw new Error(`the page opened dialogs: ${this.dialogs.join("; ")}`);
    }
  }

  /** Throws if the CSP blocked anything. */
  assertNoCspViolations() {
    if (this.cspViolations.length > 0) {
      throw new Error(`Content-Security-Policy violations: ${JSON.stringify(this.cspViolations)}`);
    }
  }

  /**
   * Throws if a page threw an uncaught error, or logged a console error for which
   * `isExpected({ text, url })` returns false.
   */
  assertNoConsoleErrors(isExpected = () => false) {
    const errors = [
      ...this.consoleErrors
        .filter((error) => !isExpected(error))
        .map((error) => `${error.text} (at ${error.url})`),
      ...this.pageErrors,
    ];
    if (errors.length > 0) {
      throw new Error(`console errors: ${errors.join("; ")}`);
    }
  }

  /** Saves a screenshot of the whole page as `path`. */
  async screenshot(path) {
    await this.page.screenshot({ path, fullPage: true, timeout: WAIT_MS });
  }

  /** Closes the browser, waiting at most BROWSER_CLOSE_MS. */
  async close() {
    this.control.close();
    await Promise.race([this.context.close().catch(() => {}), sleep(BROWSER_CLOSE_MS)]);
  }
}
