"use strict";

const STATUS_URL = "/api/admin/system/status";
const UPDATE_URL = "/api/admin/system/update";
const HEALTH_URL = "/api/health";
const LOGIN_PATH = "/login?next=" + encodeURIComponent("/home");

const MAINTENANCE_RELOAD_DELAY_MS = 3000;
const PROGRESS_POLL_INTERVAL_MS = 2000;
const HEALTH_POLL_INTERVAL_MS = 1000;
const HEALTH_REQUEST_TIMEOUT_MS = 5000;
const RESTART_TIMEOUT_MS = 120000;

const NETWORK_ERROR_MESSAGE = "Cannot reach the server. Check that studio-gate is running.";
const MAINTENANCE_MESSAGE = "The studio is updating. This page reloads in 3 seconds.";

const UPDATE_STATE_LABELS = {
  idle: "Idle",
  checking: "Checking for updates",
  copying: "Copying files",
  restarting: "Restarting",
};

const BYTE_UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

const elements = {
  statusTime: document.getElementById("status-time"),
  statusError: document.getElementById("status-error"),
  refreshButton: document.getElementById("refresh-button"),
  appVersion: document.getElementById("app-version"),
  uptime: document.getElementById("uptime"),
  pid: document.getElementById("pid"),
  diskUsage: document.getElementById("disk-usage"),
  diskFree: document.getElementById("disk-free"),
  updateState: document.getElementById("update-state"),
  updateLastResult: document.getElementById("update-last-result"),
  updateLastTime: document.getElementById("update-last-time"),
  updateLastError: document.getElementById("update-last-error"),
  progress: document.getElementById("update-progress"),
  progressBar: document.getElementById("update-progress-bar"),
  progressText: document.getElementById("update-progress-text"),
  componentsEmpty: document.getElementById("components-empty"),
  componentsTable: document.getElementById("components-table"),
  componentsBody: document.getElementById("components-body"),
  updateButton: document.getElementById("update-button"),
  updateMessage: document.getElementById("update-message"),
};

const pageState = {
  lastStatus: null,
  pendingStatusLoad: null,
  skippedComponents: new Set(),
  updateInFlight: false,
  restarting: false,
  maintenanceReloadScheduled: false,
  progressTimer: null,
};

// ---- Formatting ----

/** Formats seconds with the two largest units, for example 7500 as "2 h 5 min". */
function formatUptime(totalSeconds) {
  const days = Math.floor(totalSeconds / 86400);
  const hours = Math.floor((totalSeconds % 86400) / 3600);
  const minutes = Math.floor((totalSeconds % 3600) / 60);
  const seconds = Math.floor(totalSeconds % 60);

  if (days > 0) {
    return `${days} d ${hours} h`;
  }
  if (hours > 0) {
    return `${hours} h ${minutes} min`;
  }
  if (minutes > 0) {
    return `${minutes} min ${seconds} s`;
  }
  return `${seconds} s`;
}

/** Formats a byte count with binary (IEC) units, for example 1536 as "1.5 KiB". */
function formatBytes(bytes) {
  let value = bytes;
  let unitIndex = 0;
  while (value >= 1024 && unitIndex < BYTE_UNITS.length - 1) {
    value /= 1024;
    unitIndex += 1;
  }
  const fractionDigits = unitIndex === 0 || value >= 100 ? 0 : 1;
  return `${value.toFixed(fractionDigits)} ${BYTE_UNITS[unitIndex]}`;
}

function isNonNegativeNumber(value) {
  return Number.isFinite(value) && value >= 0;
}

function withFinalPeriod(text) {
  return /[.!?…]$/.test(text) ? text : `${text}.`;
}

// ---- Messages ----

/** Shows `text` in a message element. `kind` is "error", "warning", "success" or "info". */
function showMessage(element, text, kind) {
  element.textContent = text;
  element.dataset.kind = kind;
}

function clearMessage(element) {
  element.textContent = "";
  delete element.dataset.kind;
}

/** Returns the `detail` string of a JSON error body, or null if there is none. */
async function readDetail(response) {
  try {
    const body = await response.json();
    return typeof body?.detail === "string" ? body.detail : null;
  } catch {
    return null;
  }
}

function redirectToLogin() {
  location.assign(LOGIN_PATH);
}

/** Reloads the page once after a delay, so the server can show its maintenance page. */
function scheduleMaintenanceReload(messageElement) {
  showMessage(messageElement, MAINTENANCE_MESSAGE, "warning");
  if (pageState.maintenanceReloadScheduled) {
    return;
  }
  pageState.maintenanceReloadScheduled = true;
  setTimeout(() => location.reload(), MAINTENANCE_RELOAD_DELAY_MS);
}

// ---- Rendering ----

function renderSystem(status) {
  elements.appVersion.textContent =
    typeof status.app_version === "string" ? status.app_version : "Unknown";
  elements.uptime.textContent = isNonNegativeNumber(status.uptime_secs)
    ? formatUptime(status.uptime_secs)
    : "Unknown";
  elements.pid.textContent = Number.isInteger(status.pid) ? String(status.pid) : "Unknown";
  renderDisk(status.disk);
}

function renderDisk(disk) {
  if (!disk || !isNonNegativeNumber(disk.total_bytes) || !isNonNegativeNumber(disk.used_bytes)) {
    elements.diskUsage.textContent = "Unknown";
    elements.diskFree.textContent = "";
    return;
  }

  // Like df: the share of the space available to the studio, which leaves out the blocks
  // the file system reserves for root.
  const usable = isNonNegativeNumber(disk.free_bytes)
    ? disk.used_bytes + disk.free_bytes
    : disk.total_bytes;
  const percent = usable > 0 ? Math.round((disk.used_bytes / usable) * 100) : 0;
  elements.diskUsage.textContent =
    `${formatBytes(disk.used_bytes)} used of ${formatBytes(disk.total_bytes)} (${percent}%)`;
  elements.diskFree.textContent = isNonNegativeNumber(disk.free_bytes)
    ? `${formatBytes(disk.free_bytes)} free`
    : "";
}

function renderUpdate(update) {
  const state = typeof update?.state === "string" ? update.state : "unknown";
  elements.updateState.textContent = UPDATE_STATE_LABELS[state] ?? state;

  renderLastUpdate(update);
  renderProgress(update?.progress ?? null);
}

function describeUpdateResult(result) {
  if (typeof result.message === "string" && result.message !== "") {
    return result.message;
  }
  if (Array.isArray(result.updated) && result.updated.length > 0) {
    return `Updated: ${result.updated.join(", ")}`;
  }
  return "Finished";
}

function renderLastUpdate(update) {
  const result = update?.last_result ?? null;
  const error = typeof update?.last_error === "string" ? update.last_error : null;

  if (result !== null && typeof result === "object") {
    elements.updateLastResult.textContent = describeUpdateResult(result);
  } else if (error !== null) {
    elements.updateLastResult.textContent = "Failed";
  } else {
    elements.updateLastResult.textContent = "No update recorded yet";
  }

  elements.updateLastError.hidden = error === null;
  elements.updateLastError.textContent = error === null ? "" : `Last error: ${error}`;

  const finishedAt = update?.last_finished_at;
  if (isNonNegativeNumber(finishedAt)) {
    const date = new Date(finishedAt * 1000);
    elements.updateLastTime.dateTime = date.toISOString();
    elements.updateLastTime.textContent = `at ${date.toLocaleString()}`;
  } else {
    elements.updateLastTime.removeAttribute("datetime");
    elements.updateLastTime.textContent = "";
  }
}

function renderProgress(progress) {
  if (progress === null || typeof progress !== "object") {
    elements.progress.hidden = true;
    return;
  }

  const parts = [];
  if (isNonNegativeNumber(progress.files_done) && isNonNegativeNumber(progress.files_total)) {
    parts.push(`${progress.files_done} of ${progress.files_total} files`);
  }
  if (isNonNegativeNumber(progress.bytes_done) && isNonNegativeNumber(progress.bytes_total)) {
    parts.push(`${formatBytes(progress.bytes_done)} of ${formatBytes(progress.bytes_total)}`);
  }

  // Bytes give the smoothest bar. Files are the fallback, and with neither the bar
  // is left indeterminate.
  let fraction = null;
  if (isNonNegativeNumber(progress.bytes_done) && progress.bytes_total > 0) {
    fraction = progress.bytes_done / progress.bytes_total;
  } else if (isNonNegativeNumber(progress.files_done) && progress.files_total > 0) {
    fraction = progress.files_done / progress.files_total;
  }

  if (fraction === null) {
    elements.progressBar.removeAttribute("value");
  } else {
    elements.progressBar.value = Math.min(1, fraction);
  }
  elements.progressText.textContent = parts.length > 0 ? parts.join(", ") : "In progress";
  elements.progress.hidden = false;
}

function createSkipCheckbox(name) {
  const label = document.createElement("label");
  label.className = "skip-label";

  const checkbox = document.createElement("input");
  checkbox.type = "checkbox";
  checkbox.id = `skip-${name}`;
  checkbox.checked = pageState.skippedComponents.has(name);
  checkbox.disabled =
    pageState.updateInFlight || pageState.restarting || pageState.maintenanceReloadScheduled;
  checkbox.addEventListener("change", () => {
    if (checkbox.checked) {
      pageState.skippedComponents.add(name);
    } else {
      pageState.skippedComponents.delete(name);
    }
  });

  const text = document.createElement("span");
  text.className = "visually-hidden";
  text.textContent = `Skip ${name}`;

  label.append(checkbox, text);
  return label;
}

function createComponentRow(component) {
  const name = String(component.name);
  const row = document.createElement("tr");

  const nameCell = document.createElement("th");
  nameCell.scope = "row";
  nameCell.textContent = name;

  const versionCell = document.createElement("td");
  versionCell.textContent = typeof component.version === "string" ? component.version : "Unknown";

  const presentCell = document.createElement("td");
  presentCell.textContent = component.present ? "Yes" : "No";
  presentCell.dataset.present = String(Boolean(component.present));

  const skipCell = document.createElement("td");
  skipCell.append(createSkipCheckbox(name));

  row.append(nameCell, versionCell, presentCell, skipCell);
  return row;
}

function renderComponents(components) {
  const list = Array.isArray(components) ? components : [];
  elements.componentsBody.replaceChildren(...list.map(createComponentRow));
  elements.componentsTable.hidden = list.length === 0;
  elements.componentsEmpty.hidden = list.length > 0;
}

function renderStatus(status) {
  pageState.lastStatus = status;
  renderSystem(status);
  renderUpdate(status.update);
  renderComponents(status.components);
  elements.statusTime.textContent = `Status as of ${new Date().toLocaleTimeString()}`;
  syncUpdateControls();
}

/**
 * Enables the update controls only when no update runs, here or on the server,
 * and no reload is pending.
 */
function syncUpdateControls() {
  const serverIdle = pageState.lastStatus?.update?.state === "idle";
  const busy = pageState.updateInFlight || pageState.restarting || pageState.maintenanceReloadScheduled;
  elements.updateButton.disabled = busy || !serverIdle;
  elements.updateButton.setAttribute("aria-busy", String(busy));
  for (const checkbox of elements.componentsBody.querySelectorAll("input[type=checkbox]")) {
    checkbox.disabled = busy;
  }
}

// ---- Status ----

async function fetchAndRenderStatus() {
  let response;
  try {
    response = await fetch(STATUS_URL, {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
      cache: "no-store",
    });
  } catch {
    showMessage(elements.statusError, NETWORK_ERROR_MESSAGE, "error");
    return;
  }

  if (response.status === 401) {
    redirectToLogin();
    return;
  }
  if (response.status === 503) {
    // While an update or restart runs, the update message already shows its state,
    // and a reload would drop the pending update response.
    if (pageState.updateInFlight || pageState.restarting) {
      return;
    }
    scheduleMaintenanceReload(elements.statusError);
    return;
  }
  if (!response.ok) {
    const detail = await readDetail(response);
    const suffix = detail === null ? "" : ` ${withFinalPeriod(detail)}`;
    showMessage(
      elements.statusError,
      `Loading the status failed (status ${response.status}).${suffix} Try Refresh.`,
      "error",
    );
    return;
  }

  let status;
  try {
    status = await response.json();
  } catch {
    showMessage(elements.statusError, "The server returned an invalid status response.", "error");
    return;
  }
  if (status === null || typeof status !== "object") {
    showMessage(elements.statusError, "The server returned an invalid status response.", "error");
    return;
  }

  clearMessage(elements.statusError);
  renderStatus(status);
}

/**
 * Loads the status. Overlapping callers share one request. With `fresh`, the
 * result always comes from a request started after this call.
 */
async function loadStatus({ fresh = false } = {}) {
  if (pageState.pendingStatusLoad !== null) {
    if (!fresh) {
      return pageState.pendingStatusLoad;
    }
    await pageState.pendingStatusLoad;
  }

  if (pageState.pendingStatusLoad === null) {
    pageState.pendingStatusLoad = fetchAndRenderStatus().finally(() => {
      pageState.pendingStatusLoad = null;
    });
  }
  return pageState.pendingStatusLoad;
}

async function refreshStatus() {
  elements.refreshButton.disabled = true;
  elements.refreshButton.setAttribute("aria-busy", "true");
  try {
    await loadStatus();
  } finally {
    elements.refreshButton.disabled = false;
    elements.refreshButton.setAttribute("aria-busy", "false");
  }
}

// ---- Update ----

function startProgressPolling() {
  stopProgressPolling();
  pageState.progressTimer = setInterval(() => loadStatus(), PROGRESS_POLL_INTERVAL_MS);
}

function stopProgressPolling() {
  if (pageState.progressTimer !== null) {
    clearInterval(pageState.progressTimer);
    pageState.progressTimer = null;
  }
}

/** Returns the skipped names that are still in the component list. */
function selectedSkips() {
  const components = Array.isArray(pageState.lastStatus?.components) ? pageState.lastStatus.components : [];
  return components
    .map((component) => String(component.name))
    .filter((name) => pageState.skippedComponents.has(name));
}

function sleep(milliseconds) {
  return new Promise((resolve) => setTimeout(resolve, milliseconds));
}

async function isServerHealthy() {
  try {
    const response = await fetch(HEALTH_URL, {
      cache: "no-store",
      signal: AbortSignal.timeout(HEALTH_REQUEST_TIMEOUT_MS),
    });
    return response.status === 200;
  } catch {
    return false;
  }
}

/**
 * Polls the health endpoint until the restarted server responds with 200, then
 * reloads the page. Each poll starts 1 s after the previous one finished, and
 * polling stops with an error message after RESTART_TIMEOUT_MS.
 */
async function waitForRestart() {
  pageState.restarting = true;
  syncUpdateControls();
  showMessage(elements.updateMessage, "Restarting...", "info");

  // NOTE: a poll that reaches the old process before it exits also gets 200, so
  // the page may reload early. The reloaded page then shows the maintenance page
  // or a connection error until the new process is up.
  const deadline = Date.now() + RESTART_TIMEOUT_MS;
  while (Date.now() < deadline) {
    await sleep(HEALTH_POLL_INTERVAL_MS);
    if (await isServerHealthy()) {
      location.reload();
      return;
    }
  }

  pageState.restarting = false;
  syncUpdateControls();
  showMessage(
    elements.updateMessage,
    `The server did not respond within ${RESTART_TIMEOUT_MS / 1000} seconds after the restart. ` +
      "Check the studio-gate service, then reload this page.",
    "error",
  );
}

async function handleUpdateSuccess(response) {
  let result;
  try {
    result = await response.json();
  } catch {
    showMessage(elements.updateMessage, "The server returned an invalid update response.", "error");
    await loadStatus({ fresh: true });
    return;
  }

  if (result?.restart_needed === true) {
    await waitForRestart();
    return;
  }

  const message = result ? describeUpdateResult(result) : "Finished";
  showMessage(elements.updateMessage, message, result?.blocked === true ? "warning" : "success");
  await loadStatus({ fresh: true });
}

async function handleUpdateFailure(response) {
  const detail = await readDetail(response);
  const text = detail === null
    ? `Update failed (status ${response.status}).`
    : detail;
  showMessage(elements.updateMessage, text, "error");
  await loadStatus({ fresh: true });
}

async function handleUpdateResponse(response) {
  if (response === null) {
    showMessage(elements.updateMessage, NETWORK_ERROR_MESSAGE, "error");
    return;
  }

  switch (response.status) {
    case 200:
      await handleUpdateSuccess(response);
      return;
    case 401:
      redirectToLogin();
      return;
    case 503:
      scheduleMaintenanceReload(elements.updateMessage);
      return;
    default:
      await handleUpdateFailure(response);
  }
}

async function runUpdate() {
  const skipComponents = selectedSkips();
  pageState.updateInFlight = true;
  syncUpdateControls();
  showMessage(
    elements.updateMessage,
    skipComponents.length > 0 ? `Updating, skipping ${skipComponents.join(", ")}…` : "Updating…",
    "info",
  );
  startProgressPolling();

  let response;
  try {
    response = await fetch(UPDATE_URL, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ skip_components: skipComponents }),
    });
  } catch {
    response = null;
  } finally {
    stopProgressPolling();
  }

  // updateInFlight stays set until the response is handled, so that a status poll
  // still in flight cannot schedule a maintenance reload in between.
  try {
    await handleUpdateResponse(response);
  } finally {
    pageState.updateInFlight = false;
    syncUpdateControls();
  }
}

// ---- Start ----

elements.refreshButton.addEventListener("click", refreshStatus);
elements.updateButton.addEventListener("click", () => {
  if (!elements.updateButton.disabled) {
    runUpdate();
  }
});

loadStatus();
