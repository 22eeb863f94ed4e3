// How every test and benchmark launches Debian's Chromium: no browser download works on these machines, and
// without the background-networking flags Chromium keeps dialling hosts the sandbox refuses.

/** Playwright launch options for headless Chromium (CHROMIUM_PATH overrides /usr/bin/chromium). */
export const chromiumLaunchOptions = Object.freeze({
  executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
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
