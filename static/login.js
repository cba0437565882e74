"use strict";

const LOGIN_URL = "/api/auth/login";
const STATUS_URL = "/api/admin/system/status";
const DEFAULT_REDIRECT = "/home";

const NETWORK_ERROR_MESSAGE =
  "Cannot reach the server. Check that studio-gate is running and your connection.";
const MAINTENANCE_MESSAGE = "The studio is updating. Try again shortly.";
const COOKIE_NOT_KEPT_MESSAGE =
  "You logged in, but your browser did not keep the session cookie. " +
  "The cookie is marked Secure, so browsers keep it only over HTTPS (or on http://localhost). " +
  "Open the studio over HTTPS, or through http://localhost with an SSH tunnel, " +
  "or start studio-gate with COOKIE_SECURE=false on a trusted network.";

const form = document.getElementById("login-form");
const keyInput = document.getElementById("api-key");
const submitButton = document.getElementById("login-button");
const messageElement = document.getElementById("login-message");
const submitLabel = submitButton.textContent;

/** Shows `text` in the live region. `kind` is "error", "warning" or "info". */
function showMessage(text, kind) {
  messageElement.textContent = text;
  messageElement.dataset.kind = kind;
}

function clearMessage() {
  messageElement.textContent = "";
  delete messageElement.dataset.kind;
}

function setBusy(busy) {
  submitButton.disabled = busy;
  submitButton.setAttribute("aria-busy", String(busy));
  submitButton.textContent = busy ? "Logging in…" : submitLabel;
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

/**
 * Returns the Retry-After header in seconds, or null if it is missing or invalid.
 * HTTP allows either delay-seconds or an HTTP-date, so both are parsed.
 */
function parseRetryAfter(headerValue) {
  if (headerValue === null) {
    return null;
  }

  const trimmed = headerValue.trim();
  if (/^\d+$/.test(trimmed)) {
    return Number(trimmed);
  }

  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) {
    return null;
  }
  return Math.max(0, Math.ceil((date - Date.now()) / 1000));
}

/** Formats seconds as words, for example 250 as "4 minutes 10 seconds". */
function formatWait(totalSeconds) {
  const units = [
    ["hour", Math.floor(totalSeconds / 3600)],
    ["minute", Math.floor((totalSeconds % 3600) / 60)],
    ["second", totalSeconds % 60],
  ];
  return units
    .filter(([, count]) => count > 0)
    .map(([unit, count]) => `${count} ${unit}${count === 1 ? "" : "s"}`)
    .join(" ");
}

function tooManyAttemptsMessage(response) {
  const seconds = parseRetryAfter(response.headers.get("Retry-After"));
  if (seconds === null) {
    return "Too many failed attempts. Try again later.";
  }
  if (seconds === 0) {
    return "Too many failed attempts. Try again now.";
  }
  return `Too many failed attempts. Try again in ${formatWait(seconds)}.`;
}

function serverErrorMessage(status, detail) {
  if (detail === null || detail.trim() === "") {
    return `Server error (status ${status}). Try again.`;
  }
  const sentence = /[.!?]$/.test(detail) ? detail : `${detail}.`;
  return `Server error (status ${status}): ${sentence} Try again.`;
}

/** Returns the error message for a login response that is not 200. */
async function loginFailureMessage(response) {
  switch (response.status) {
    case 401:
      return "Invalid API key.";
    case 403:
      return "Login rejected because the server treated it as a cross-site request. " +
        "Open the studio at its own address and log in again.";
    case 429:
      return tooManyAttemptsMessage(response);
    case 503:
      return MAINTENANCE_MESSAGE;
    default:
      return serverErrorMessage(response.status, await readDetail(response));
  }
}

/**
 * Returns `redirect` if it is a path on this origin, otherwise DEFAULT_REDIRECT.
 * The server already sanitises it. This check only keeps a faulty response from
 * sending the browser to another host.
 */
function sameOriginPath(redirect) {
  if (typeof redirect !== "string" || !redirect.startsWith("/")) {
    return DEFAULT_REDIRECT;
  }
  const url = new URL(redirect, location.origin);
  if (url.origin !== location.origin) {
    return DEFAULT_REDIRECT;
  }
  return url.pathname + url.search + url.hash;
}

/**
 * Navigates to `redirect` unless a status request shows that the browser did not
 * keep the new session cookie, and explains the cause in that case. Without this
 * check, a browser that drops the Secure cookie over plain HTTP would send the
 * user back to the login page after every successful login.
 */
async function navigateIfSessionKept(redirect) {
  let response;
  try {
    response = await fetch(STATUS_URL, {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
      cache: "no-store",
    });
  } catch {
    showMessage(NETWORK_ERROR_MESSAGE, "error");
    setBusy(false);
    return;
  }

  if (response.status === 401) {
    showMessage(COOKIE_NOT_KEPT_MESSAGE, "warning");
    setBusy(false);
    return;
  }
  if (response.status === 503) {
    showMessage(MAINTENANCE_MESSAGE, "warning");
    setBusy(false);
    return;
  }

  // Other statuses do not show that the cookie was dropped, so the browser
  // navigates and the target page reports its own errors.
  showMessage("Logged in. Opening the studio…", "info");
  location.assign(redirect);
}

async function logIn(apiKey) {
  const requestBody = { api_key: apiKey };
  const next = new URLSearchParams(location.search).get("next");
  if (next) {
    requestBody.next = next;
  }

  let response;
  try {
    response = await fetch(LOGIN_URL, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(requestBody),
    });
  } catch {
    showMessage(NETWORK_ERROR_MESSAGE, "error");
    setBusy(false);
    return;
  }

  if (response.status !== 200) {
    showMessage(await loginFailureMessage(response), "error");
    setBusy(false);
    keyInput.focus();
    keyInput.select();
    return;
  }

  let loginResult;
  try {
    loginResult = await response.json();
  } catch {
    showMessage("The server returned an invalid login response. Try again.", "error");
    setBusy(false);
    return;
  }
  await navigateIfSessionKept(sameOriginPath(loginResult?.redirect));
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  if (submitButton.disabled) {
    return;
  }

  const apiKey = keyInput.value;
  if (apiKey === "") {
    showMessage("Enter your API key.", "error");
    keyInput.focus();
    return;
  }

  clearMessage();
  setBusy(true);
  logIn(apiKey);
});
