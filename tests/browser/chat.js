// tests/browser/chat.js - the chat example in a real browser.
//
//   node tests/browser/chat.js http://127.0.0.1:PORT/ [http://127.0.0.1:PORT2/]
//
// Launches Debian's chromium (/usr/bin/chromium, or $CHROMIUM) headless
// through playwright-core (tests/browser/node_modules, see package.json and
// scripts/install-deps.sh), opens the page in two tabs, types a message in
// the first and waits for it to appear in the second (and for its echo in
// the first).  With two URLs the second tab opens the second one: two
// servers of one cluster, the message crossing through Redis.  Prints one line of JSON and exits 0 on success, 1 on failure.
// playwright gives the browser a fresh temporary profile (--user-data-dir)
// and removes it on close.  Everything is bounded: 60 s overall.
'use strict';
const path = require('path');
const { chromium } = require(path.join(__dirname, 'node_modules', 'playwright-core'));

const urls = process.argv.slice(2);
if (urls.length < 1 || urls.length > 2) {
    console.error('usage: node chat.js URL [URL2]');
    process.exit(2);
}
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const STEP = 15000; // ms for each wait

let browser = null;
const overall = setTimeout(async () => {
    console.log(JSON.stringify({ ok: false, error: 'timed out after 60 s' }));
    if (browser)
        await browser.close().catch(() => {});
    process.exit(1);
}, 60000);

async function chatText(page) {
    return page.$eval('#chatbox', (el) => el.innerText);
}

async function main() {
    browser = await chromium.launch({
        executablePath,
        headless: true,
        timeout: 30000,
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
               '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    const context = await browser.newContext();
    const tabs = [await context.newPage(), await context.newPage()];
    const logs = [];
    tabs.forEach((p, i) => p.on('console', (m) => logs.push('tab' + i + ': ' + m.text())));
    for (const [i, p] of tabs.entries()) {
        await p.goto(urls[i % urls.length], { timeout: STEP });
        await p.waitForSelector('body[data-connected="1"]', { timeout: STEP });
        await p.waitForFunction(
            () => document.getElementById('chatbox').innerText.indexOf('Greetings') >= 0,
            null, { timeout: STEP });
    }
    const msg = 'hello from tab one ' + Date.now();
    await tabs[0].fill('#chatin', msg);
    await tabs[0].click('#send');
    // The other tab gets "a message from <id>: <msg>", the sender its echo.
    await tabs[1].waitForFunction(
        (m) => document.getElementById('chatbox').innerText.indexOf(': ' + m) >= 0,
        msg, { timeout: STEP });
    await tabs[0].waitForFunction(
        (m) => Array.from(document.querySelectorAll('#chatbox p')).some((p) => p.innerText === m),
        msg, { timeout: STEP });
    // And back the other way, typed with Enter.
    const reply = 'and back from tab two ' + Date.now();
    await tabs[1].fill('#chatin', reply);
    await tabs[1].press('#chatin', 'Enter');
    await tabs[0].waitForFunction(
        (m) => document.getElementById('chatbox').innerText.indexOf(': ' + m) >= 0,
        reply, { timeout: STEP });
    const result = {
        ok: true,
        tab0: await chatText(tabs[0]),
        tab1: await chatText(tabs[1]),
        browser: browser.version(),
    };
    await browser.close();
    browser = null;
    return result;
}

main().then((r) => {
    clearTimeout(overall);
    console.log(JSON.stringify(r));
    process.exit(0);
}, async (e) => {
    clearTimeout(overall);
    console.log(JSON.stringify({ ok: false, error: String(e && e.stack || e) }));
    if (browser)
        await browser.close().catch(() => {});
    process.exit(1);
});
