// The web UI end to end, in Debian's headless Chromium, against the real server that
// crates/opsconductor/tests/e2e.rs started. Environment: E2E_BASE (server URL, plain HTTP),
// E2E_ADMIN_PASSWORD, E2E_SCREENSHOTS (directory), E2E_CHROMIUM (browser binary), and the
// test sshd: E2E_SSH_PORT, E2E_SSH_USER, E2E_SSH_KEY_FILE (the client's private key).
// Exits non-zero on the first failed expectation, saying which.

import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

const base = required("E2E_BASE");
const adminPassword = required("E2E_ADMIN_PASSWORD");
const shots = process.env.E2E_SCREENSHOTS ?? "screenshots";
const browserPath = process.env.E2E_CHROMIUM ?? "/usr/bin/chromium";
const sshPort = required("E2E_SSH_PORT");
const sshUser = required("E2E_SSH_USER");
const sshKey = readFileSync(required("E2E_SSH_KEY_FILE"), "utf8");
const TIMEOUT = 30_000;

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

function check(condition, what) {
  if (!condition) throw new Error(`expectation failed: ${what}`);
  console.log(`ok   ${what}`);
}

async function api(method, path, token, body) {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: {
      "content-type": "application/json",
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

async function login(page, username, password) {
  await page.goto(`${base}/ui/login`);
  await page.getByTestId("login-username").fill(username);
  await page.getByTestId("login-password").fill(password);
  await page.getByTestId("login-submit").click();
  await page.getByTestId("nav").waitFor({ timeout: TIMEOUT });
}

async function shot(page, name) {
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
}

mkdirSync(shots, { recursive: true });

// Data the pages will show, made through the API.
const admin = (await api("POST", "/api/login", null, { username: "admin", password: adminPassword })).access_token;
const viewerPassword = "viewer-pass-4242";
await api("POST", "/users", admin, {
  username: "watcher",
  email: "watcher@example.com",
  password: viewerPassword,
  role: "viewer",
});
const job = await api("POST", "/jobs", admin, {
  name: "health-twice",
  definition: {
    name: "health-twice",
    version: 1,
    parameters: { path: "/health" },
    steps: [
      { name: "first", type: "http.request", method: "GET", url: `${base}{{ path }}` },
      { name: "second", type: "http.request", method: "GET", url: `${base}{{ path }}` },
    ],
  },
});

const browser = await chromium.launch({
  executablePath: browserPath,
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
let failed = false;
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  await page.goto(`${base}/`);
  check((await page.title()) === "OpsConductor", "the page title is OpsConductor");

  await login(page, "admin", adminPassword);
  await page.getByTestId("executor-status").waitFor();
  check(true, "admin signs in and sees the dashboard with the executor status");
  await shot(page, "dashboard");

  // A credential and a target made through the forms, then a real connection test.
  await page.getByTestId("nav-credentials").click();
  await page.getByTestId("credential-new").click();
  await page.getByTestId("credential-name").fill("health-key");
  await page.getByTestId("credential-type").click();
  await page.getByRole("option", { name: "api_key", exact: true }).click();
  await page.getByTestId("credential-description").fill("Bearer key for the health check");
  // A required field left empty is caught before anything is sent.
  await page.getByTestId("credential-submit").click();
  await page.getByTestId("credential-dialog").getByText("Required").waitFor();
  check(true, "the credential form asks for the api_key of an api_key credential");
  await page.getByTestId("credential-field-api_key").fill("e2e-secret-key-123");
  await page.getByTestId("credential-submit").click();
  await page.getByTestId("credential-dialog").waitFor({ state: "detached" });
  await page.getByTestId("credentials-table").getByText("health-key").waitFor();
  check(true, "an api_key credential is created from the New credential form");
  await shot(page, "credentials");

  const port = new URL(base).port;
  await page.getByTestId("nav-targets").click();
  await page.getByTestId("target-new").click();
  await page.getByTestId("target-name").fill("self-http");
  await page.getByTestId("target-hostname").fill("127.0.0.1");
  await page.getByTestId("target-protocol").click();
  await page.getByRole("option", { name: "http", exact: true }).click();
  await page.getByTestId("target-port").fill(port);
  await page.getByTestId("target-credential").click();
  await page.getByRole("option", { name: /^health-key/ }).click();
  await page.getByTestId("target-tags").fill("env:e2e");
  await page.getByTestId("target-tags").press("Enter");
  await page.getByTestId("target-metadata").fill("[1, 2]");
  await page.getByTestId("target-submit").click();
  await page.getByTestId("target-dialog").getByText("Metadata must be a JSON object").waitFor();
  check(true, "the target form refuses metadata that is not a JSON object");
  await page.getByTestId("target-metadata").fill('{"http_scheme":"http","http_path":"/health"}');
  // The server's 422 lands on the field it names.
  await page.getByTestId("target-name").fill("tag:self");
  await page.getByTestId("target-submit").click();
  await page.getByTestId("target-dialog").getByText(/reserved for tag selectors/).waitFor();
  check(true, "a server validation error is shown on the target's name field");
  await page.getByTestId("target-name").fill("self-http");
  await page.getByTestId("target-submit").click();
  await page.getByTestId("target-dialog").waitFor({ state: "detached" });
  const targetRow = page.getByTestId("targets-table").getByRole("row").filter({ hasText: "self-http" });
  await targetRow.waitFor();
  check((await targetRow.getByText(`127.0.0.1:${port}`).count()) === 1, "the http target is listed with its address");
  check((await targetRow.getByText("env:e2e").count()) === 1, "the target shows its tag");
  await targetRow.getByRole("button", { name: "Test" }).click();
  const testResult = targetRow.locator('[data-testid^="target-test-result-"]');
  await testResult.waitFor();
  check((await testResult.getAttribute("data-success")) === "true", "the Test button connects to the http target");
  check(/\d+ ms/.test(await testResult.innerText()), "the test result shows its duration");

  // An SSH key credential and a target on the test sshd; the connection test pins its host key.
  await page.getByTestId("nav-credentials").click();
  await page.getByTestId("credential-new").click();
  await page.getByTestId("credential-name").fill("sshd-key");
  await page.getByTestId("credential-type").click();
  await page.getByRole("option", { name: "ssh_key", exact: true }).click();
  await page.getByTestId("credential-field-username").fill(sshUser);
  await page.getByTestId("credential-field-private_key").fill(sshKey);
  await page.getByTestId("credential-submit").click();
  await page.getByTestId("credential-dialog").waitFor({ state: "detached" });
  await page.getByTestId("credentials-table").getByText("sshd-key").waitFor();
  check(true, "an ssh_key credential is created with its private key pasted into the form");

  await page.getByTestId("nav-targets").click();
  await page.getByTestId("target-new").click();
  await page.getByTestId("target-name").fill("sshd-local");
  await page.getByTestId("target-hostname").fill("127.0.0.1");
  await page.getByTestId("target-protocol").click();
  await page.getByRole("option", { name: "ssh", exact: true }).click();
  await page.getByTestId("target-port").fill(sshPort);
  await page.getByTestId("target-credential").click();
  await page.getByRole("option", { name: /^sshd-key/ }).click();
  await page.getByTestId("target-submit").click();
  await page.getByTestId("target-dialog").waitFor({ state: "detached" });
  const sshRow = page.getByTestId("targets-table").getByRole("row").filter({ hasText: "sshd-local" });
  await sshRow.waitFor();
  await sshRow.getByRole("button", { name: "Test" }).click();
  const sshResult = sshRow.locator('[data-testid^="target-test-result-"]');
  await sshResult.waitFor();
  check((await sshResult.getAttribute("data-success")) === "true", "the Test button connects to the real sshd with the key");
  check(/\d+ ms/.test(await sshResult.innerText()), "the SSH test result shows its duration");
  await sshRow.locator('[data-testid^="target-host-key-"][data-pinned="true"]').waitFor();
  check(true, "the target shows the host key pinned by the test");

  // Bulk import: a bad row is flagged on its row and nothing is imported; fixed, both land.
  const csv = (host) => `name,hostname,protocol,port,credential,tags\nweb-01,10.0.0.1,ssh,22,sshd-key,role:web\nweb-02,${host},ssh,22,sshd-key,role:web\n`;
  await page.getByTestId("targets-import").click();
  await page.getByTestId("import-text").fill(csv("bad host name!"));
  await page.getByTestId("import-submit").click();
  const rowError = page.getByTestId("import-row-error");
  await rowError.first().waitFor();
  check((await rowError.count()) === 1 && (await rowError.first().getAttribute("data-row")) === "1", "the import flags the bad row, and only it");
  check((await page.getByTestId("import-summary").getAttribute("data-outcome")) === "error", "the import summary says nothing was imported");
  await shot(page, "targets-import");
  await page.getByTestId("import-text").fill(csv("10.0.0.2"));
  await page.getByTestId("import-submit").click();
  await page.getByTestId("import-summary").and(page.locator('[data-outcome="success"]')).waitFor();
  await page.keyboard.press("Escape");
  await page.getByTestId("targets-table").getByText("web-02").waitFor();
  check(true, "the corrected import creates both targets");
  await shot(page, "targets");

  // Edit a target through its dialog (prefilled; a duplicate name is refused on the name field),
  // then delete another through its confirm dialog.
  const web02 = page.getByTestId("targets-table").getByRole("row").filter({ hasText: "web-02" });
  await web02.locator('[data-testid^="target-edit-"]').click();
  check((await page.getByTestId("target-name").inputValue()) === "web-02" && (await page.getByTestId("target-port").inputValue()) === "22", "the Edit dialog opens prefilled with the target");
  await page.getByTestId("target-name").fill("web-01");
  await page.getByTestId("target-submit").click();
  await page.getByTestId("target-dialog").getByText("Target with this name already exists").waitFor();
  check(true, "renaming a target to a taken name is refused on the name field");
  await page.getByTestId("target-name").fill("web-02");
  await page.getByTestId("target-port").fill("2222");
  await page.getByTestId("target-submit").click();
  await page.getByTestId("target-dialog").waitFor({ state: "detached" });
  await web02.getByText("10.0.0.2:2222").waitFor();
  check(true, "web-02's port edited through the dialog shows :2222 in the table");
  const web01 = page.getByTestId("targets-table").getByRole("row").filter({ hasText: "web-01" });
  await web01.locator('[data-testid^="target-delete-"]').click();
  await page.getByTestId("target-delete-confirm").click();
  await page.getByTestId("target-delete-dialog").waitFor({ state: "detached" });
  await web01.waitFor({ state: "detached" });
  check((await page.getByTestId("targets-table").getByText("web-02").count()) === 1, "web-01 deleted through its confirm dialog is gone from the table");

  // Run the job from the jobs page and watch it to success.
  await page.getByTestId("nav-jobs").click();
  await page.getByTestId(`job-run-${job.id}`).click();
  await page.getByTestId("run-dialog-submit").click();
  await page.waitForURL(/\/ui\/runs\/\d+$/);
  const runUrl = page.url();
  await page.getByTestId("run-status").filter({ hasText: /succeeded/i }).waitFor();
  check(true, "the run started from the run dialog reaches succeeded on its page");
  await page.getByTestId("log-viewer").getByText("healthy").first().waitFor();
  check(true, "the live log shows the steps' output");
  await shot(page, "run");

  // A two-step SSH job built in the visual builder: a field error from the server lands on its
  // step's field; saved, edited (history shows the diff), previewed, then run to success.
  await page.getByTestId("nav-jobs").click();
  await page.getByTestId("jobs-new").click();
  await page.getByTestId("job-name").fill("ssh-twice");
  await page.getByTestId("step-0-name").fill("who");
  await page.getByTestId("step-0-target").fill("sshd-local");
  await page.getByTestId("step-0-target").press("Enter");
  await page.getByTestId("step-0-command").fill("echo \"hello from $(whoami)\"");
  await page.getByTestId("job-add-step-type").selectOption("ssh.exec");
  await page.getByTestId("job-add-step").click();
  await page.getByTestId("step-1-name").fill("where");
  // A target that does not exist is refused by the server, on step 1's target field.
  await page.getByTestId("step-1-target").fill("nowhere-host");
  await page.getByTestId("step-1-target").press("Enter");
  await page.getByTestId("step-1-command").fill("echo step-two-done on $(hostname)");
  await page.getByTestId("job-save").click();
  const fieldError = page.getByTestId("step-1").getByTestId("job-field-error");
  await fieldError.first().waitFor();
  check(/nowhere-host/.test(await fieldError.first().innerText()), "the server's error on step 1's target is shown on that step");
  await page.getByTestId("step-1-target").press("Backspace");
  await page.getByTestId("step-1-target").fill("sshd-local");
  await page.getByTestId("step-1-target").press("Enter");
  await page.getByTestId("job-save").click();
  await page.getByTestId("job-tab-history").waitFor();
  const jobUrl = page.url();
  check(/\/ui\/jobs\/\d+/.test(jobUrl), "the job built in the builder is saved");
  await shot(page, "job-builder");
  await page.getByTestId("step-1-command").fill("echo step-two-done on $(hostname) at $(date +%s)");
  await page.getByTestId("job-save").click();
  await page.getByTestId("job-unsaved").waitFor({ state: "detached" });
  await page.getByTestId("job-tab-history").click();
  const diff = page.getByTestId("job-diff");
  await diff.locator('[data-op="add"]').first().waitFor();
  check((await diff.locator('[data-op="add"]').count()) === 1 && (await diff.locator('[data-op="del"]').count()) === 1, "the history diff shows exactly the changed command");
  await shot(page, "job-history");
  await page.getByTestId("job-tab-plan").click();
  await page.getByTestId("job-plan-run").click();
  await page.getByTestId("plan-step-1-targets").getByText("sshd-local").waitFor();
  check(true, "the plan preview resolves the steps' target");
  await shot(page, "job-plan");
  await page.getByTestId("job-run").click();
  await page.getByTestId("run-dialog-submit").click();
  await page.waitForURL(/\/ui\/runs\/\d+$/);
  await page.getByTestId("run-status").filter({ hasText: /succeeded/i }).waitFor();
  await page.getByTestId("log-viewer").getByText("hello from root").first().waitFor();
  await page.getByTestId("log-viewer").getByText(/step-two-done on/).first().waitFor();
  check(true, "the builder's two-step SSH job runs on the real sshd and its live log reaches succeeded");
  await shot(page, "run-ssh");

  // A deep link survives a reload (the access token lives in memory; the session is restored).
  const deepLink = page.url();
  await page.reload();
  await page.getByTestId("run-status").filter({ hasText: /succeeded/i }).waitFor();
  check(page.url() === deepLink, "a reload on a deep link stays on the run page");
  await page.goto(jobUrl);
  await page.getByTestId("job-tab-history").waitFor();
  check((await page.getByTestId("step-1-command").inputValue()).includes("date +%s"), "a reload on a job's deep link opens the saved job");

  // Duplicate: the copy opens unsaved at /ui/jobs/new as "<name> (copy)"; saved, then deleted
  // (it has no runs). The job itself has runs: deleting it is refused with the server's 409.
  await page.getByTestId("job-duplicate").click();
  await page.waitForURL(/\/ui\/jobs\/new/);
  await page.getByTestId("job-unsaved").waitFor();
  check((await page.getByTestId("job-name").inputValue()) === "ssh-twice (copy)", "Duplicate opens a new job named ssh-twice (copy)");
  check((await page.getByTestId("step-1-command").inputValue()).includes("date +%s"), "the copy has the job's steps");
  await page.getByTestId("job-save").click();
  await page.getByTestId("job-tab-history").waitFor();
  const copyUrl = page.url();
  check(/\/ui\/jobs\/\d+/.test(copyUrl) && copyUrl !== jobUrl, "the copy is saved as a job of its own");
  await page.getByTestId("job-delete").click();
  await page.getByTestId("job-delete-confirm").click();
  await page.waitForURL(/\/ui\/jobs$/);
  await page.getByTestId("jobs-table").getByText("ssh-twice", { exact: true }).waitFor();
  await page.getByTestId("jobs-table").getByText("ssh-twice (copy)").waitFor({ state: "detached" });
  check(true, "the copy, deleted from its editor, is gone from the jobs list");
  await page.goto(jobUrl);
  await page.getByTestId("job-tab-history").waitFor();
  await page.getByTestId("job-delete").click();
  await page.getByTestId("job-delete-confirm").click();
  await page.getByTestId("job-delete-error").getByText("Cannot delete job: it has execution history").waitFor();
  check((await page.getByTestId("job-delete-deactivate").count()) === 1, "deleting a job with runs shows the server's 409 and offers to deactivate it instead");
  await page.getByTestId("job-delete-dialog").getByRole("button", { name: "Keep it" }).click();
  await page.getByTestId("job-delete-dialog").waitFor({ state: "detached" });

  await page.getByTestId("nav-runs").click();
  await page.waitForURL(/\/ui\/runs$/);
  await shot(page, "runs");

  await page.getByTestId("nav-jobs").click();
  await page.getByTestId("jobs-table").getByText("ssh-twice").waitFor();
  await shot(page, "jobs");
  await page.getByTestId("nav-users").click();
  await page.getByTestId("users-table").getByText("watcher", { exact: true }).waitFor();
  await shot(page, "users");
  await page.getByTestId("nav-profile").click();
  await page.getByTestId("password-form").waitFor();
  await shot(page, "profile");

  await page.getByTestId("nav-audit").click();
  await page.getByTestId("audit-table").getByText("job.run").first().waitFor();
  await page.getByTestId("audit-table").getByText("job.create").first().waitFor();
  await page.getByTestId("audit-table").getByText("credential.use").first().waitFor();
  check(true, "the audit page lists the job's creation, its runs and the credential use");
  await shot(page, "audit");

  // The dark theme, through the shell's toggle: the dashboard in dark, then back to light.
  const colorScheme = () => page.evaluate(() => document.documentElement.getAttribute("data-mantine-color-scheme"));
  await page.getByTestId("nav-dashboard").click();
  await page.getByTestId("executor-status").waitFor();
  await page.getByTestId("theme-toggle").click();
  await page.locator('html[data-mantine-color-scheme="dark"]').waitFor({ state: "attached" });
  // The toggle's tooltip would be in the picture: move the pointer away and let it go.
  await page.mouse.move(640, 800);
  await page.getByRole("tooltip").waitFor({ state: "detached" });
  await shot(page, "dashboard-dark");
  check((await colorScheme()) === "dark", "the shell's theme toggle switches the app to the dark theme");
  await page.getByTestId("theme-toggle").click();
  await page.locator('html[data-mantine-color-scheme="light"]').waitFor({ state: "attached" });
  check((await colorScheme()) === "light", "the theme toggle switches back to light");

  // A viewer sees no actions it cannot take.
  await page.getByTestId("user-menu").click();
  await page.getByTestId("logout").click();
  await page.getByTestId("login-form").waitFor();
  const logouts = await api("GET", "/audit?action=auth.logout", admin);
  check(logouts.entries.some((e) => e.actor === "admin" && e.status_code === 200), "signing out revokes the session on the server (audited)");
  await login(page, "watcher", viewerPassword);
  check((await page.getByTestId("nav-users").count()) === 0, "a viewer has no Users link");
  check((await page.getByTestId("nav-audit").count()) === 0, "a viewer has no Audit link");
  await page.goto(runUrl);
  await page.getByTestId("run-status").waitFor();
  check((await page.getByTestId("run-cancel").count()) === 0, "a viewer sees no cancel button");
  check((await page.getByTestId("run-rerun").count()) === 0, "a viewer sees no rerun button");
  await page.getByTestId("nav-jobs").click();
  await page.getByTestId("jobs-table").waitFor();
  check((await page.getByTestId(`job-run-${job.id}`).count()) === 0, "a viewer cannot start runs");
  check((await page.getByTestId("jobs-new").count()) === 0, "a viewer cannot create jobs");
  await page.goto(jobUrl);
  await page.getByTestId("job-read-only").waitFor();
  check((await page.getByTestId("job-save").count()) === 0 && (await page.getByTestId("job-add-step").count()) === 0, "a viewer sees a job read-only, without save or add-step");
  check((await page.getByTestId("job-duplicate").count()) === 0 && (await page.getByTestId("job-delete").count()) === 0, "a viewer cannot duplicate or delete a job");
  await page.getByTestId("nav-targets").click();
  await page.getByTestId("targets-table").waitFor();
  check((await page.getByTestId("target-new").count()) === 0, "a viewer cannot create targets");
  check((await page.locator('[data-testid^="target-edit-"], [data-testid^="target-delete-"]').count()) === 0, "a viewer cannot edit or delete targets");
  await page.getByTestId("nav-credentials").click();
  await page.getByTestId("credentials-table").waitFor();
  check((await page.getByTestId("credential-new").count()) === 0, "a viewer cannot create credentials");
  check((await page.locator('[data-testid^="credential-rotate-"]').count()) === 0, "a viewer cannot rotate credentials");

  // Phone width: the navigation collapses behind the burger.
  await page.setViewportSize({ width: 390, height: 800 });
  await page.getByTestId("nav-burger").click();
  await page.getByTestId("nav-runs").click();
  await page.waitForURL(/\/ui\/runs$/);
  check(true, "at phone width the burger menu navigates");
  await shot(page, "runs-phone");
} catch (error) {
  failed = true;
  console.error(error instanceof Error ? error.message : error);
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
