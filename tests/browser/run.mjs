// Runs one browser scenario against servers that tests/browser.rs started.
//
// Usage: node run.mjs SCENARIO SETUP_JSON
//
// SETUP_JSON carries the servers' URLs, the API key, the status values the dashboard must
// show, the screenshot folder and the browser's network settings (see tests/browser.rs).
// Exits 0 when every check passed. Otherwise it prints the failure to standard error, saves
// a screenshot of the page as failure-SCENARIO.png, and exits 1.

import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";

import { BrowserRun } from "./harness.mjs";
import { SCENARIOS } from "./scenarios.mjs";

/** Time limit of one scenario in milliseconds, browser start included. */
const SCENARIO_TIMEOUT_MS = 45000;

/** The running browser, so that a timed-out scenario can still close it. */
let activeRun = null;

async function runScenario(name, setup) {
  const scenario = SCENARIOS[name];
  if (scenario === undefined) {
    throw new Error(`unknown scenario ${name}; known: ${Object.keys(SCENARIOS).join(", ")}`);
  }
  await mkdir(setup.screenshotDir, { recursive: true });
  const failureScreenshot = join(setup.screenshotDir, `failure-${name}.png`);
  await rm(failureScreenshot, { force: true });

  const run = await BrowserRun.start(setup.browser);
  activeRun = run;
  try {
    await scenario(run, setup);
    run.assertStayedOnTestServers();
    run.assertNoCspViolations();
  } catch (error) {
    await run.screenshot(failureScreenshot).catch(() => {});
    error.message += `\n(page: ${run.page.url()}; requests to other hosts: ${
      run.blockedRequests.join(", ") || "none"
    })`;
    throw error;
  } finally {
    activeRun = null;
    await run.close();
  }
}

async function main() {
  const [name, setupJson] = process.argv.slice(2);
  if (name === undefined || setupJson === undefined) {
    throw new Error("usage: node run.mjs SCENARIO SETUP_JSON");
  }
  const setup = JSON.parse(setupJson);

  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`scenario ${name} timed out after ${SCENARIO_TIMEOUT_MS} ms`)),
      SCENARIO_TIMEOUT_MS,
    );
  });
  try {
    await Promise.race([runScenario(name, setup), timeout]);
  } finally {
    clearTimeout(timer);
    await activeRun?.close();
  }
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(`browser scenario failed: ${error.stack ?? error}`);
    process.exit(1);
  },
);
