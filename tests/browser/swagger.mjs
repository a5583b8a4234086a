// Drives Swagger UI in headless Chromium: log in through the OAuth2 Authorize button (authorization
// code + PKCE on the local issuer), call /api/private with "Try it out", then do the same with a pasted
// bearer token. Screenshots of each step go to SCREENSHOT_DIR. Exits non-zero on any failure.
//
// Environment: BASE_URL, USERNAME, PASSWORD, TOKEN, SCREENSHOT_DIR.
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const { BASE_URL, USERNAME, PASSWORD, TOKEN, SCREENSHOT_DIR } = process.env;
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
mkdirSync(SCREENSHOT_DIR, { recursive: true });

const browser = await chromium.launch({
  executablePath,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const shot = (page, name) => page.screenshot({ path: join(SCREENSHOT_DIR, `${name}.png`), fullPage: false });
const step = (message) => console.log(`step: ${message}`);

/** Opens /api/private, clicks "Execute" (after "Try it out" where needed), and returns the status Swagger UI shows. */
async function tryPrivate(page, name) {
  const operation = page.locator('#operations-api-private');
  await operation.locator('.opblock-summary').click();
  await operation.locator('.opblock-body').waitFor();
  // "Try it out" is on from the start (tryItOutEnabled); click it only where it is not.
  const execute = operation.locator('button.execute');
  if (!(await execute.isVisible())) await operation.locator('button.try-out__btn').click();
  await execute.click();
  const status = operation.locator('.live-responses-table .response .response-col_status').first();
  await status.waitFor({ timeout: 15000 });
  await operation.scrollIntoViewIfNeeded();
  await shot(page, name);
  return (await status.innerText()).trim();
}

async function oauthLogin() {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  await page.goto(`${BASE_URL}/docs/`);
  await page.locator('.swagger-ui .btn.authorize').first().waitFor();
  await shot(page, '01-docs');
  step('docs loaded');

  await page.locator('.swagger-ui .btn.authorize').first().click();
  const dialog = page.locator('.dialog-ux .modal-ux');
  await dialog.waitFor();
  // The authorization-code flow's section has its own Authorize button; its client id is prefilled.
  const codeFlow = dialog.locator('.auth-container', { hasText: 'authorizationCode' });
  await codeFlow.locator('button.authorize').waitFor();
  await shot(page, '02-authorize-dialog');
  const [popup] = await Promise.all([
    page.waitForEvent('popup'),
    codeFlow.locator('button.authorize').click(),
  ]);
  await popup.waitForLoadState();
  await popup.locator('#username').fill(USERNAME);
  await popup.locator('#password').fill(PASSWORD);
  await shot(popup, '03-login-page');
  step('login page shown');
  await Promise.all([popup.waitForEvent('close', { timeout: 15000 }), popup.getByRole('button', { name: 'Sign in' }).click()]);
  step('logged in; popup closed');
  await codeFlow.locator('button', { hasText: 'Logout' }).waitFor({ timeout: 15000 });
  await shot(page, '04-authorized');
  await dialog.locator('.close-modal').click();
  const status = await tryPrivate(page, '05-try-private-oauth');
  await context.close();
  return status;
}

async function bearerPaste() {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  await page.goto(`${BASE_URL}/docs/`);
  await page.locator('.swagger-ui .btn.authorize').first().click();
  const dialog = page.locator('.dialog-ux .modal-ux');
  const bearer = dialog.locator('.auth-container', { hasText: 'bearer' }).first();
  await bearer.locator('input').first().fill(TOKEN);
  await bearer.locator('button.authorize').click();
  await bearer.locator('button', { hasText: 'Logout' }).waitFor();
  await shot(page, '06-bearer-authorized');
  await dialog.locator('.close-modal').click();
  const status = await tryPrivate(page, '07-try-private-bearer');
  await context.close();
  return status;
}

let failed = false;
try {
  const oauth = await oauthLogin();
  console.log(`oauth status: ${oauth}`);
  const pasted = await bearerPaste();
  console.log(`bearer status: ${pasted}`);
  failed = oauth !== '200' || pasted !== '200';
} catch (error) {
  console.error(`browser test failed: ${error.stack || error}`);
  failed = true;
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
