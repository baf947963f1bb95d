// Drives a real browser (the Debian chromium package, headless, through
// playwright-core) through mcpfort's sign-in and consent pages.
//
// Usage: node login.mjs CHROMIUM AUTHORIZE_URL USERNAME PASSWORD SCREENSHOT_DIR
//
// It opens AUTHORIZE_URL, signs in, screenshots the consent page, allows,
// and prints {"final": URL, "consoleErrors": [...]} once the browser has
// reached the client's redirect URI. JavaScript is disabled, as the pages
// must work without it; CSP violations would show as console errors.
import { chromium } from 'playwright-core';

const [executablePath, authorizeURL, username, password, shots] = process.argv.slice(2);

const browser = await chromium.launch({ executablePath, headless: true, args: ['--no-sandbox'] });
try {
  const context = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 800, height: 900 } });
  const page = await context.newPage();
  const consoleErrors = [];
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });

  await page.goto(authorizeURL);
  await page.screenshot({ path: `${shots}/login.png`, fullPage: true });
  await page.fill('#username', username);
  await page.fill('#password', password);
  await Promise.all([page.waitForNavigation(), page.click('button.primary')]);
  await page.screenshot({ path: `${shots}/consent.png`, fullPage: true });
  const consentText = await page.textContent('main');
  const [final] = await Promise.all([
    page.waitForRequest((r) => r.isNavigationRequest() && !r.url().startsWith(new URL(authorizeURL).origin)),
    page.click('button[value="allow"]'),
  ]);
  process.stdout.write(`${JSON.stringify({ final: final.url(), consoleErrors, consentText })}\n`);
} finally {
  await browser.close();
}
