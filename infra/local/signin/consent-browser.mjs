// kitegate's consent page in a real headless browser (Debian's chromium,
// driven by puppeteer-core): the user signs in at the IdP's forms, sees
// kitegate's consent page, and clicks Allow or Deny; the browser must then
// be sent to the client's redirect URI.
//
//   node consent-browser.mjs <authorize url> <redirect uri> <user> <approve|deny>
//
// Needs KITEGATE_TEST_CHROMIUM. Prints one JSON line for the Go test.
import puppeteer from 'puppeteer-core';

const [authorizeUrl, redirectUri, user, decision] = process.argv.slice(2);
const out = { pages: [], console: [] };
const log = (...a) => process.stderr.write(a.join(' ') + '\n');
// Bounded: whatever hangs, the run ends within a minute with what it saw.
setTimeout(() => {
  out.error = 'timed out after 60 s';
  console.log(JSON.stringify(out));
  process.exit(1);
}, 60000).unref();
const browser = await puppeteer.launch({
  executablePath: process.env.KITEGATE_TEST_CHROMIUM,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});
try {
  const page = await browser.newPage();
  page.setDefaultTimeout(20000);
  page.on('console', (m) => { out.console.push(m.text()); log('console', m.text()); });
  await page.setRequestInterception(true);
  let landed;
  const arrived = new Promise((resolve) => {
    page.on('request', (req) => {
      if (req.isNavigationRequest() && req.url().startsWith(redirectUri)) {
        landed = req.url();
        req.abort();
        resolve();
        return;
      }
      req.continue();
    });
  });
  let response = await page.goto(authorizeUrl);
  for (let i = 0; i < 8 && !landed; i++) {
    const url = page.url();
    out.pages.push(url);
    log('page', url, response?.status());
    if (new URL(url).pathname === '/oauth/consent') {
      const h = response?.headers() ?? {};
      out.consent = {
        csp: h['content-security-policy'], frame_options: h['x-frame-options'],
        heading: await page.$eval('h1', (e) => e.textContent),
        tools: await page.$$eval('li code', (es) => es.map((e) => e.textContent)),
        url,
      };
      await Promise.all([arrived, page.click(decision === 'deny' ? '#deny' : '#approve')]);
      break;
    }
    if (await page.$('input[name=login]')) {
      await page.type('input[name=login]', user);
      await page.type('input[name=password]', 'any password');
    }
    const [r] = await Promise.all([
      Promise.race([page.waitForNavigation(), arrived.then(() => null)]),
      page.$eval('form', (f) => f.requestSubmit()),
    ]);
    response = r;
  }
  out.landed = landed;
} catch (e) {
  out.error = String(e?.stack ?? e);
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
