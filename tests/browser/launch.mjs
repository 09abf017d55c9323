// launch.mjs starts headless Chromium for the browser tests' scripts
// (play.mjs, playmp4.mjs): Debian's /usr/bin/chromium through
// playwright-core, autoplay allowed, audio muted, no GPU, no sandbox (the
// tests run as root).
export async function launchChromium(executablePath) {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath,
    headless: true,
    args: ['--no-sandbox', '--autoplay-policy=no-user-gesture-required', '--mute-audio', '--disable-gpu', '--disable-dev-shm-usage'],
    timeout: 30000,
  });
}
