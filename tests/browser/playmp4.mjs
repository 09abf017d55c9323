#!/usr/bin/env node
// playmp4.mjs plays a progressive MP4 URL (a recording's file under /vod/)
// in a plain <video> element in headless Chromium (Debian's /usr/bin/chromium,
// driven by playwright-core) and prints one JSON object on stdout: whether
// playback advanced, the duration the browser read, the position reached,
// and the HTTP requests the browser made for the file (with their Range
// headers: a file whose moov comes after the mdat needs one for the end).
// tests/browser/browser_test.go runs it; people can too:
//
//   node tests/browser/playmp4.mjs --url http://127.0.0.1:8080/vod/REC/000001.mp4 --seconds 3
//
// Exit status: 0 when the JSON was printed (also when playback failed: "ok"
// and "error" say how), 2 on bad arguments.
import { parseArgs } from 'node:util';
import { launchChromium } from './launch.mjs';

let opts;
try {
  opts = parseArgs({
    options: {
      url: { type: 'string' },
      seconds: { type: 'string', default: '3' },
      timeout: { type: 'string', default: '30' },
      chromium: { type: 'string', default: process.env.CHROMIUM || '/usr/bin/chromium' },
    },
  }).values;
} catch (e) {
  console.error(e.message);
  process.exit(2);
}
const seconds = Number(opts.seconds);
const timeout = Number(opts.timeout);
if (!opts.url || !(seconds >= 1 && seconds <= 600) || !(timeout >= 1 && timeout <= 600)) {
  console.error('usage: node playmp4.mjs --url URL [--seconds 3] [--timeout 30] [--chromium PATH]');
  process.exit(2);
}

const result = { url: opts.url, ok: false, error: '', duration: null, start: null, end: null, requests: [] };

async function main() {
  const browser = await launchChromium(opts.chromium);
  try {
    const page = await browser.newPage();
    page.on('request', (req) => {
      if (req.url() === opts.url) result.requests.push({ method: req.method(), range: req.headers()['range'] || '' });
    });
    // An empty page of the stream's own origin: no CORS question here, only
    // whether the browser plays the file.
    await page.route(new URL('/__livestack_mp4/', opts.url).href, (route) =>
      route.fulfill({ status: 200, contentType: 'text/html', body: '<!doctype html><video id="v" muted playsinline></video>' }));
    await page.goto(new URL('/__livestack_mp4/', opts.url).href);
    const meta = await page.evaluate(async ({ url, timeoutMs }) => {
      const v = document.getElementById('v');
      v.src = url;
      const ready = new Promise((resolve, reject) => {
        v.addEventListener('loadedmetadata', resolve, { once: true });
        v.addEventListener('error', () => reject(new Error('media error ' + (v.error && v.error.code) + ': ' + (v.error && v.error.message))), { once: true });
        setTimeout(() => reject(new Error('no metadata in ' + timeoutMs + ' ms')), timeoutMs);
      });
      await ready;
      await v.play();
      return { duration: v.duration, width: v.videoWidth, height: v.videoHeight, start: v.currentTime };
    }, { url: opts.url, timeoutMs: timeout * 1000 });
    Object.assign(result, meta);
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const after = await page.evaluate(() => {
      const v = document.getElementById('v');
      return { end: v.currentTime, error: v.error ? v.error.message || String(v.error.code) : '', decoded: v.getVideoPlaybackQuality ? v.getVideoPlaybackQuality().totalVideoFrames : null };
    });
    Object.assign(result, after);
    result.ok = !result.error && result.end - result.start >= seconds / 2; // advancing, startup included
    if (!result.ok && !result.error) result.error = `playback advanced ${(result.end - result.start).toFixed(2)} s in ${seconds} s`;
  } finally {
    await browser.close();
  }
}

const guard = setTimeout(() => { result.error = 'timeout'; console.log(JSON.stringify(result)); process.exit(0); }, (timeout + seconds + 30) * 1000);
main()
  .catch((e) => { result.error = String(e && e.message || e); })
  .finally(() => { clearTimeout(guard); console.log(JSON.stringify(result)); process.exit(0); });
