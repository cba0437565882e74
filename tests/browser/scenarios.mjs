// The browser scenarios. Each takes the BrowserRun and the setup that tests/browser.rs
// passed in, and throws on the first failed check.

import assert from "node:assert/strict";
import { join } from "node:path";

import {
  RELOAD_WAIT_MS,
  WAIT_MS,
  fetchWithSessionCookie,
  sleep,
  waitForText,
  waitForTitle,
  waitForUrl,
  waitUntil,
} from "./harness.mjs";

// Texts of the bundled pages (static/login.js, static/home.js, src/maintenance.html).
const INVALID_KEY_MESSAGE = "Invalid API key.";
const NETWORK_ERROR_MESSAGE =
  "Cannot reach the server. Check that studio-gate is running and your connection.";
const DASHBOARD_MAINTENANCE_MESSAGE = "The studio is updating. This page reloads in 3 seconds.";
const TOO_MANY_ATTEMPTS = /^Too many failed attempts\. Try again in (?:(\d+) minutes?)? ?(?:(\d+) seconds?)?\.$/;
const LOGIN_TITLE = "Log in · studio-gate";
const DASHBOARD_TITLE = "Dashboard · studio-gate";
const MAINTENANCE_TITLE = "Studio is updating";
const MAINTENANCE_STATUS_CONSOLE_ERROR =
  "Failed to load resource: the server responded with a status of 503 (Service Unavailable)";

const STATUS_PATH = "/api/admin/system/status";

/** Failed logins that studio-gate allows per client before it returns 429. */
const MAX_FAILED_LOGINS = 10;

/** The login limit's window in seconds, the longest Retry-After the server may send. */
const LOGIN_WINDOW_SECS = 300;

// ---- Steps shared by the scenarios ----

/** Returns the `next` query parameter of the page's URL, decoded. */
function nextParameter(page) {
  return new URL(page.url()).searchParams.get("next");
}

/** Checks that the page shows the login form, on the origin `baseUrl`. */
async function expectLoginPage(page, baseUrl) {
  assert.equal(new URL(page.url()).origin, baseUrl, `login page on another origin: ${page.url()}`);
  assert.equal(new URL(page.url()).pathname, "/login", `expected the login page, got ${page.url()}`);
  await waitForTitle(page, LOGIN_TITLE);
  await page.locator("#login-form").waitFor({ state: "visible" });
}

/**
 * Types `key` into the login form, submits it, and returns the response to
 * `POST /api/auth/login`.
 */
async function submitKey(page, key) {
  await page.locator("#login-button").waitFor({ state: "visible" });
  await waitUntil("the login button to be enabled", async () => {
    const disabled = await page.locator("#login-button").isDisabled();
    return { ok: !disabled, seen: "a disabled button" };
  });
  await page.fill("#api-key", key);
  const [response] = await Promise.all([
    page.waitForResponse(
      (candidate) =>
        new URL(candidate.url()).pathname === "/api/auth/login" &&
        candidate.request().method() === "POST",
      { timeout: WAIT_MS },
    ),
    page.click("#login-button"),
  ]);
  return response;
}

/**
 * Holds every request that matches `urlGlob` until the returned function is called. After
 * that, matching requests pass straight through. The route stays in place, because removing
 * it right after the release made the network guard fail with "Route is already handled!"
 * (playwright-core 1.65.2).
 */
async function holdRequests(page, urlGlob) {
  let release;
  const released = new Promise((resolve) => {
    release = resolve;
  });
  await page.route(urlGlob, async (route) => {
    await released;
    await route.fallback();
  });
  return release;
}

/** Checks that the dashboard shows the status of the in-process server of `setup`. */
async function expectDashboardStatus(page, setup) {
  await waitForTitle(page, DASHBOARD_TITLE);
  await waitForText(page, "#app-version", setup.appVersion);
  await waitForText(page, "#pid", String(setup.pid));
  await waitForText(page, "#uptime", /^\d+ (?:s|min \d+ s)$/);
  await waitForText(page, "#disk-usage", /^\d+(?:\.\d)? \S+ used of \d+(?:\.\d)? \S+ \(\d+%\)$/);
  // The percentage is of the space available to the studio, as df shows it. Other writers
  // on the disk may move it by a point between the two reads.
  const disk = await page.evaluate(async () => {
    const response = await fetch("/api/admin/system/status");
    return (await response.json()).disk;
  });
  const expectedPercent = Math.round((disk.used_bytes / (disk.used_bytes + disk.free_bytes)) * 100);
  const shownPercent = Number((await page.locator("#disk-usage").textContent()).match(/\((\d+)%\)/)[1]);
  assert.ok(
    Math.abs(shownPercent - expectedPercent) <= 1,
    `disk shows ${shownPercent}%, df would show ${expectedPercent}%`,
  );
  await waitForText(page, "#update-state", "Idle");
  await waitForText(page, "#update-last-result", "No update recorded yet");
  assert.equal((await page.locator("#status-error").textContent()).trim(), "", "status error shown");
  assert.ok(await page.locator("#components-empty").isVisible(), "empty component list not shown");
}

/** Logs in through the login page at `loginUrl` and waits until the dashboard has loaded. */
async function logInToDashboard(run, setup, loginUrl) {
  const { page } = run;
  await page.goto(loginUrl);
  await expectLoginPage(page, setup.baseUrl);
  const response = await submitKey(page, setup.apiKey);
  assert.equal(response.status(), 200, `login returned ${response.status()}`);
  await waitForUrl(page, `${setup.baseUrl}/home`);
  await expectDashboardStatus(page, setup);
}

/** Returns the browser's `session` cookie for `baseUrl`, or undefined. */
async function sessionCookie(context, baseUrl) {
  const cookies = await context.cookies(baseUrl);
  return cookies.find((cookie) => cookie.name === "session");
}

/** Returns a list that collects the URL and status of each main-frame document response. */
function recordDocumentStatuses(page) {
  const statuses = [];
  page.on("response", (response) => {
    const request = response.request();
    if (request.isNavigationRequest() && request.frame() === page.mainFrame()) {
      statuses.push({ url: response.url(), status: response.status() });
    }
  });
  return statuses;
}

// ---- Scenarios ----

/**
 * Checks that `/` leads to the login page, a wrong key shows the error, the right key opens
 * the dashboard, a reload keeps it, and logout ends the session in the browser and on the
 * server.
 */
async function loginLogout(run, setup) {
  const { page, context } = run;
  const base = setup.baseUrl;

  await page.goto(`${base}/`);
  await expectLoginPage(page, base);
  assert.equal(nextParameter(page), "/");

  // The request is held until the button has been checked, so the check cannot race it.
  const releaseLogin = await holdRequests(page, "**/api/auth/login");
  const wrongKeyResponse = submitKey(page, "wrong-key");
  await waitUntil("the login button to be disabled while the login runs", async () => {
    const disabled = await page.locator("#login-button").isDisabled();
    return { ok: disabled, seen: "an enabled button" };
  });
  await waitForText(page, "#login-button", "Logging in…");
  releaseLogin();
  assert.equal((await wrongKeyResponse).status(), 401);
  await waitForText(page, "#login-message", INVALID_KEY_MESSAGE);
  await waitForText(page, "#login-button", "Log in");
  assert.equal(await sessionCookie(context, base), undefined, "a wrong key left a cookie");

  const response = await submitKey(page, setup.apiKey);
  assert.equal(response.status(), 200);
  await waitForUrl(page, `${base}/home`);
  await expectDashboardStatus(page, setup);

  await page.reload();
  assert.equal(page.url(), `${base}/home`, "reload left the dashboard");
  await expectDashboardStatus(page, setup);

  const cookie = await sessionCookie(context, base);
  assert.ok(cookie, "no session cookie after login");
  assert.equal(cookie.httpOnly, true, "cookie is not HttpOnly");
  assert.equal(cookie.secure, true, "cookie is not Secure");
  assert.equal(cookie.sameSite, "Strict");
  const before = await fetchWithSessionCookie(base, STATUS_PATH, cookie.value);
  assert.equal(before.status, 200, "the session cookie does not work before logout");

  await page.click("#logout-button");
  await waitForUrl(page, `${base}/login`);
  await expectLoginPage(page, base);
  assert.equal(await sessionCookie(context, base), undefined, "logout left the cookie");

  await page.goBack();
  await waitUntil("the back button to lead to the login page", async () => {
    const url = new URL(page.url());
    return { ok: url.pathname === "/login", seen: page.url() };
  });
  await expectLoginPage(page, base);
  assert.equal(await page.locator("#app-version").count(), 0, "the back button shows the dashboard");

  const after = await fetchWithSessionCookie(base, STATUS_PATH, cookie.value);
  assert.equal(after.status, 401, "the cookie from before logout still works");
}

/**
 * Checks that login follows a same-origin `next` and lands on /home for any `next` that
 * leads elsewhere. The network guard aborts any request to another host, and the run fails
 * if one was tried.
 */
async function nextRedirect(run, setup) {
  const { page, context } = run;
  const base = setup.baseUrl;

  // A protected page without a session: the gate adds `next`, and login returns there.
  await page.goto(`${base}/some/page?view=1`);
  await expectLoginPage(page, base);
  assert.equal(nextParameter(page), "/some/page?view=1");
  assert.equal((await submitKey(page, setup.apiKey)).status(), 200);
  await waitForUrl(page, `${base}/some/page?view=1`);
  await waitForText(page, "body", /There is no page at this address\./);
  await run.screenshot(join(setup.screenshotDir, "not-found.png"));
  run.assertStayedOnTestServers();

  const cases = [
    { next: STATUS_PATH, expected: STATUS_PATH },
    { next: "//evil.example", expected: "/home" },
    { next: "javascript:alert(1)", expected: "/home" },
    // Encoded, because chromium sends a raw backslash in the query as it is, and the server's
    // HTTP parser rejects that request with 400 before the login page is served.
    { next: "/%5Cevil.example", expected: "/home" },
    { next: "https://evil.example/", expected: "/home" },
    // The page decodes %25 to %, so the server gets /%2Fevil.example, which is //evil.example
    // once decoded.
    { next: "/%252Fevil.example", expected: "/home" },
  ];
  for (const { next, expected } of cases) {
    await context.clearCookies();
    await page.goto(`${base}/login?next=${next}`);
    await expectLoginPage(page, base);
    // The page navigates once its status request returns, and the login response's body
    // cannot be read after that, so the status request waits until the body is read.
    const releaseStatus = await holdRequests(page, `**${STATUS_PATH}`);
    const response = await submitKey(page, setup.apiKey);
    assert.equal(response.status(), 200, `next=${next}: login returned ${response.status()}`);
    const { redirect } = await response.json();
    releaseStatus();
    assert.equal(redirect, expected, `next=${next}: redirect in the login response`);
    await waitForUrl(page, `${base}${expected}`);
    assert.equal(new URL(page.url()).origin, base, `next=${next} left the test server`);
    if (expected === STATUS_PATH) {
      await waitForText(page, "body", /"app_version":/);
    } else {
      await expectDashboardStatus(page, setup);
    }
    run.assertStayedOnTestServers();
  }
}

/** Checks that the eleventh wrong key gets 429 and the page shows how long to wait. */
async function loginLimit(run, setup) {
  const { page } = run;
  const base = setup.baseUrl;

  await page.goto(`${base}/login`);
  await expectLoginPage(page, base);
  for (let attempt = 1; attempt <= MAX_FAILED_LOGINS; attempt += 1) {
    const response = await submitKey(page, `wrong-key-${attempt}`);
    assert.equal(response.status(), 401, `wrong key ${attempt} returned ${response.status()}`);
    await waitForText(page, "#login-message", INVALID_KEY_MESSAGE);
  }

  // The right key is rejected too while the client is over the limit.
  for (const key of ["wrong-key-11", setup.apiKey]) {
    const response = await submitKey(page, key);
    assert.equal(response.status(), 429, `after ${MAX_FAILED_LOGINS} failures`);
    const retryAfter = await response.headerValue("retry-after");
    assert.match(retryAfter ?? "", /^\d+$/, `Retry-After ${retryAfter}`);
    const seconds = Number(retryAfter);
    assert.ok(seconds > 0, `Retry-After ${seconds}`);
    assert.ok(seconds <= LOGIN_WINDOW_SECS, `Retry-After ${seconds}`);

    const message = await waitForText(page, "#login-message", TOO_MANY_ATTEMPTS);
    const [, minutes = "0", remainder = "0"] = TOO_MANY_ATTEMPTS.exec(message);
    assert.equal(Number(minutes) * 60 + Number(remainder), seconds, `wait in "${message}"`);
    assert.equal(new URL(page.url()).pathname, "/login", "a rejected login left the login page");
  }
}

/**
 * Turns maintenance on while the dashboard is open, and checks that Refresh shows the notice,
 * the page reloads into the maintenance page, which reloads itself, and the dashboard comes
 * back once maintenance is off.
 */
async function maintenance(run, setup) {
  const { page, control } = run;
  await logInToDashboard(run, setup, `${setup.baseUrl}/login`);
  const documents = recordDocumentStatuses(page);

  await control.request("maintenance-on");
  await page.click("#refresh-button");
  await waitForText(page, "#status-error", DASHBOARD_MAINTENANCE_MESSAGE);
  await waitForTitle(page, MAINTENANCE_TITLE, RELOAD_WAIT_MS);
  await waitForText(page, "h1", "The studio is updating");
  assert.equal(page.url(), `${setup.baseUrl}/home`);

  await waitUntil(
    "the maintenance page to reload itself",
    async () => {
      const count = documents.filter((document) => document.status === 503).length;
      return { ok: count >= 2, seen: `${count} maintenance pages: ${JSON.stringify(documents)}` };
    },
    RELOAD_WAIT_MS,
  );

  await control.request("maintenance-off");
  await waitForTitle(page, DASHBOARD_TITLE, RELOAD_WAIT_MS);
  assert.equal(page.url(), `${setup.baseUrl}/home`);
  await expectDashboardStatus(page, setup);
}

/**
 * Stops the server after the login page has loaded, and checks that submitting shows a
 * connection error.
 */
async function serverStopped(run, setup) {
  const { page, control } = run;
  const base = setup.baseUrl;

  await page.goto(`${base}/login`);
  await expectLoginPage(page, base);
  await control.request("stop-server");

  await page.fill("#api-key", setup.apiKey);
  await page.click("#login-button");
  await waitForText(page, "#login-message", NETWORK_ERROR_MESSAGE);
  await waitForText(page, "#login-button", "Log in");
  assert.equal(await page.locator("#login-button").isDisabled(), false, "button stays disabled");
  assert.equal(new URL(page.url()).pathname, "/login");
}

/**
 * Checks plain HTTP from a host name that is not localhost. With the default COOKIE_SECURE
 * the browser drops the Secure cookie and the login page explains why. With
 * COOKIE_SECURE=false login works.
 */
async function secureCookieOverPlainHttp(run, setup) {
  const { page, context } = run;

  const secureBase = setup.secureCookieUrl;
  await page.goto(`${secureBase}/`);
  await expectLoginPage(page, secureBase);
  const documents = recordDocumentStatuses(page);
  const response = await submitKey(page, setup.apiKey);
  assert.equal(response.status(), 200, "login with the right key");
  const setCookie = (await response.headerValue("set-cookie")) ?? "";
  assert.match(setCookie, /^session=[^;]+;.*\bSecure\b/, `Set-Cookie: ${setCookie}`);

  const message = await waitForText(page, "#login-message", /did not keep the session cookie/);
  assert.match(message, /COOKIE_SECURE=false/, "the explanation names the fix");
  assert.equal(await sessionCookie(context, secureBase), undefined, "the browser kept the cookie");
  await run.screenshot(join(setup.screenshotDir, "login-cookie-not-kept.png"));
  // A login loop would navigate to /home and back to /login within this time.
  await sleep(1000);
  assert.deepEqual(documents, [], "the page navigated after the login");
  assert.equal(new URL(page.url()).pathname, "/login");

  await context.clearCookies();
  const plainBase = setup.plainCookieUrl;
  await logInToDashboard(run, { ...setup, baseUrl: plainBase }, `${plainBase}/login`);
  const cookie = await sessionCookie(context, plainBase);
  assert.ok(cookie, "no session cookie with COOKIE_SECURE=false");
  assert.equal(cookie.secure, false);
}

/**
 * Checks that the login page, the dashboard and the maintenance page render without console
 * errors or CSP violations, and saves a screenshot of each.
 */
async function pagesRenderCleanly(run, setup) {
  const { page, control } = run;
  const base = setup.baseUrl;

  await page.goto(`${base}/login`, { waitUntil: "load" });
  await expectLoginPage(page, base);
  await run.screenshot(join(setup.screenshotDir, "login.png"));

  const response = await submitKey(page, setup.apiKey);
  assert.equal(response.status(), 200);
  await waitForUrl(page, `${base}/home`);
  await expectDashboardStatus(page, setup);
  await run.screenshot(join(setup.screenshotDir, "dashboard.png"));

  await control.request("maintenance-on");
  await page.reload({ waitUntil: "load" });
  await waitForTitle(page, MAINTENANCE_TITLE);
  await run.screenshot(join(setup.screenshotDir, "maintenance.png"));
  await control.request("maintenance-off");
  await waitForTitle(page, DASHBOARD_TITLE, RELOAD_WAIT_MS);
  await expectDashboardStatus(page, setup);

  // Chromium logs every HTTP error status as a console error, so the maintenance page's own
  // 503, which is what the page is for, shows up too.
  const maintenanceUrl = `${base}/home`;
  run.assertNoConsoleErrors(
    ({ text, url }) => url === maintenanceUrl && text === MAINTENANCE_STATUS_CONSOLE_ERROR,
  );
  run.assertNoCspViolations();

  // The violation listener must see a violation that the test causes on purpose.
  await page.evaluate(() => {
    const script = document.createElement("script");
    script.textContent = "window.inlineScriptRan = true;";
    document.head.append(script);
  });
  await waitUntil("the provoked CSP violation to be reported", async () => ({
    ok: run.cspViolations.some((violation) => violation.directive === "script-src-elem"),
    seen: JSON.stringify(run.cspViolations),
  }));
  assert.equal(await page.evaluate(() => window.inlineScriptRan), undefined, "inline script ran");
  run.cspViolations.length = 0;
  run.consoleErrors.length = 0;
}

/** Scenarios by the name tests/browser.rs passes. */
export const SCENARIOS = {
  "login-logout": loginLogout,
  "next-redirect": nextRedirect,
  "login-limit": loginLimit,
  maintenance,
  "server-stopped": serverStopped,
  "secure-cookie": secureCookieOverPlainHttp,
  "pages-render-cleanly": pagesRenderCleanly,
};
