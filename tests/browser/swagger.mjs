// Drives Swagger UI in headless Chromium as a newcomer would: through the OAuth2 Authorize button
// (authorization code + PKCE on the local issuer), follow the login page's sign-up link, create the
// account (after one refused weak password) and call /api/private with "Try it out"; then log in with
// that account in a fresh browser, and finally use a pasted bearer token. Screenshots of each step go
// to SCREENSHOT_DIR. Exits non-zero on any failure.
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

/**
 * Opens Swagger UI, clicks Authorize for the code flow, and in the popup either signs up (`signUp`)
 * or signs in; returns the status /api/private then answers. `prefix` names the screenshots.
 */
async function oauthLogin(signUp, prefix) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  await page.goto(`${BASE_URL}/docs/`);
  await page.locator('.swagger-ui .btn.authorize').first().waitFor();
  await shot(page, `${prefix}-01-docs`);
  step('docs loaded');

  await page.locator('.swagger-ui .btn.authorize').first().click();
  const dialog = page.locator('.dialog-ux .modal-ux');
  await dialog.waitFor();
  // The authorization-code flow's section has its own Authorize button; its client id is prefilled.
  const codeFlow = dialog.locator('.auth-container', { hasText: 'authorizationCode' });
  await codeFlow.locator('button.authorize').waitFor();
  await shot(page, `${prefix}-02-authorize-dialog`);
  const [popup] = await Promise.all([
    page.waitForEvent('popup'),
    codeFlow.locator('button.authorize').click(),
  ]);
  await popup.waitForLoadState();
  let submit;
  if (signUp) {
    await shot(popup, `${prefix}-03-login-page`);
    await popup.locator('a#signup').click();
    await popup.locator('#password[autocomplete="new-password"]').waitFor();
    // A weak password first: the form comes back with the reason, the username kept.
    await popup.locator('#username').fill(USERNAME);
    await popup.locator('#password').fill('short');
    await popup.getByRole('button', { name: 'Create account' }).click();
    await popup.locator('#password-error').waitFor({ timeout: 15000 });
    await shot(popup, `${prefix}-04-weak-password`);
    step('weak password refused on the form');
    if ((await popup.locator('#username').inputValue()) !== USERNAME) throw new Error('the username was not kept');
    await popup.locator('#password').fill(PASSWORD);
    submit = popup.getByRole('button', { name: 'Create account' });
  } else {
    await popup.locator('#username').fill(USERNAME);
    await popup.locator('#password').fill(PASSWORD);
    await shot(popup, `${prefix}-03-login-page`);
    submit = popup.getByRole('button', { name: 'Sign in' });
  }
  step(signUp ? 'sign-up form filled' : 'login page shown');
  await Promise.all([popup.waitForEvent('close', { timeout: 15000 }), submit.click()]);
  step(signUp ? 'signed up; popup closed' : 'logged in; popup closed');
  await codeFlow.locator('button', { hasText: 'Logout' }).waitFor({ timeout: 15000 });
  await shot(page, `${prefix}-05-authorized`);
  await dialog.locator('.close-modal').click();
  const status = await tryPrivate(page, `${prefix}-06-try-private`);
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
  await shot(page, 'bearer-01-authorized');
  await dialog.locator('.close-modal').click();
  const status = await tryPrivate(page, 'bearer-02-try-private');
  await context.close();
  return status;
}

let failed = false;
try {
  const signedUp = await oauthLogin(true, 'signup');
  console.log(`signup status: ${signedUp}`);
  const oauth = await oauthLogin(false, 'login');
  console.log(`oauth status: ${oauth}`);
  const pasted = await bearerPaste();
  console.log(`bearer status: ${pasted}`);
  failed = signedUp !== '200' || oauth !== '200' || pasted !== '200';
} catch (error) {
  console.error(`browser test failed: ${error.stack || error}`);
  failed = true;
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
