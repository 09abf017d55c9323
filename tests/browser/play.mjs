#!/usr/bin/env node
// play.mjs plays an HLS URL with hls.js in headless Chromium (Debian's
// /usr/bin/chromium, driven by playwright-core) and prints one JSON object on
// stdout: whether playback advanced, by how much over the window, stalls,
// startup time and where it went (playlists, first part, metadata, the first
// seek), latency (hls.js's live-edge estimate and wall clock against
// EXT-X-PROGRAM-DATE-TIME), levels, level switches and the level of every
// fragment buffered. Before playing it starts the browser's audio output once,
// as a browser that has made any sound before has (see --cold-audio).
// tests/browser/browser_test.go runs it; people can too:
//
//   node tests/browser/play.mjs --url http://127.0.0.1:8080/demo/master.m3u8 --low-latency --seconds 10
//   node tests/browser/play.mjs --url http://127.0.0.1:8080/demo/index.m3u8 --abr
//
// The page (page/index.html, page/player.js, hls.js from node_modules) is
// served by the script itself from its own HTTP server on 127.0.0.1 (another
// port: another origin in the same, loopback, address space), so the stream
// is fetched cross-origin as on a real site and the server's CORS headers are
// exercised; --same-origin serves the page under the stream's own origin
// instead, through request interception.
//
// Exit status: 0 when the JSON was printed, also when playback failed ("ok"
// and "error" say how; the caller judges), 2 on bad arguments.
import { parseArgs } from 'node:util';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { createRequire } from 'node:module';
import http from 'node:http';
import { launchChromium } from './launch.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

const usage = `usage: node play.mjs --url URL [--seconds 4] [--low-latency] [--abr] [--timeout 30]
       [--chromium /usr/bin/chromium] [--same-origin] [--catch-up RATE] [--screenshot FILE]
       [--cold-audio] [--debug] [--samples]
  --catch-up RATE  after the first window (hls.js's defaults), let hls.js play up to RATE
                   times faster to get back to its target latency (maxLiveSyncPlaybackRate,
                   low-latency mode only), give it --seconds to converge, and measure a
                   second window
  --cold-audio     do not start the browser's audio output before playing: the launch of
                   Chromium's audio service (0.3-0.75 s here) then falls into the first seek
                   and adds to the latency hls.js keeps with its defaults (page/player.js
                   warmAudio says why the default warms it up first)
  --debug          turn hls.js's debug log on and copy it to stderr (with ms since start)
  --samples        add every 200 ms sample (position, latency, buffer, playback rate) to the JSON`;

let opts;
try {
  opts = parseArgs({
    options: {
      url: { type: 'string' },
      seconds: { type: 'string', default: '4' },
      'low-latency': { type: 'boolean', default: false },
      abr: { type: 'boolean', default: false },
      timeout: { type: 'string', default: '30' },
      chromium: { type: 'string', default: process.env.CHROMIUM || '/usr/bin/chromium' },
      'same-origin': { type: 'boolean', default: false },
      'catch-up': { type: 'string', default: '1' },
      screenshot: { type: 'string' },
      'cold-audio': { type: 'boolean', default: false },
      debug: { type: 'boolean', default: false },
      samples: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  }).values;
} catch (e) {
  console.error(e.message + '\n' + usage);
  process.exit(2);
}
if (opts.help || !opts.url) {
  console.error(usage);
  process.exit(opts.help ? 0 : 2);
}
const seconds = Number(opts.seconds);
const timeout = Number(opts.timeout);
const catchUp = Number(opts['catch-up']);
if (!(catchUp >= 1 && catchUp <= 2)) {
  console.error('--catch-up: want 1-2\n' + usage);
  process.exit(2);
}
if (!(seconds >= 1 && seconds <= 600) || !(timeout >= 1 && timeout <= 600)) {
  console.error('--seconds and --timeout: want 1-600\n' + usage);
  process.exit(2);
}

const log = (...a) => console.error('play.mjs:', ...a);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Files the page loads, by the name it asks for.
async function pageFiles() {
  const hlsDist = path.join(path.dirname(require.resolve('hls.js/package.json')), 'dist', 'hls.min.js');
  return {
    'index.html': { type: 'text/html', body: await readFile(path.join(here, 'page', 'index.html')) },
    'player.js': { type: 'text/javascript', body: await readFile(path.join(here, 'page', 'player.js')) },
    'hls.min.js': { type: 'text/javascript', body: await readFile(hlsDist) },
  };
}

function stats(values) {
  const v = values.filter((x) => typeof x === 'number' && isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const q = (p) => v[Math.min(v.length - 1, Math.max(0, Math.ceil(p * v.length) - 1))];
  const r = (x) => Math.round(x * 1000) / 1000;
  return { p50: r(q(0.5)), p90: r(q(0.9)), min: r(v[0]), max: r(v[v.length - 1]), last: r(values.filter((x) => typeof x === 'number').at(-1)), samples: v.length };
}

const result = {
  url: opts.url,
  lowLatency: opts['low-latency'],
  catchUpRate: catchUp,
  ok: false,
  error: '',
};

async function main() {
  const files = await pageFiles();
  const streamOrigin = new URL(opts.url).origin;
  let base = streamOrigin + '/__livestack_player/';
  let pageServer = null;
  if (!opts['same-origin']) {
    pageServer = http.createServer((req, res) => {
      const name = new URL(req.url, 'http://x').pathname.split('/').pop() || 'index.html';
      if (name === 'favicon.ico') { res.writeHead(204); res.end(); return; }
      const f = files[name];
      if (!f) { res.writeHead(404); res.end('not found'); return; }
      res.writeHead(200, { 'Content-Type': f.type, 'Cache-Control': 'no-store' });
      res.end(f.body);
    });
    await new Promise((resolve, reject) => { pageServer.once('error', reject); pageServer.listen(0, '127.0.0.1', resolve); });
    base = `http://127.0.0.1:${pageServer.address().port}/`;
  }

  const browser = await launchChromium(opts.chromium);
  try {
    result.browser = browser.version();
    const page = await browser.newPage();
    const t0 = Date.now();
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') log('console.' + m.type() + ':', m.text());
      else if (opts.debug) log(`+${Date.now() - t0} ms console.${m.type()}:`, m.text());
    });
    page.on('pageerror', (e) => log('page error:', e.message));
    if (!pageServer) {
      await page.route(base + '**', async (route) => {
        const name = new URL(route.request().url()).pathname.split('/').pop() || 'index.html';
        const f = files[name];
        if (!f) return route.fulfill({ status: 404, body: 'not found' });
        return route.fulfill({ status: 200, contentType: f.type, body: f.body });
      });
    }
    await page.goto(base + 'index.html');
    const state = () => page.evaluate(() => { window.livestack.sample(); return window.livestack.state; });
    let s = await state();
    result.hlsVersion = s.hlsVersion;
    if (!s.mseH264AAC) throw new Error('this Chromium has no MediaSource support for H.264/AAC (Debian\'s chromium package has it)');

    if (!opts['cold-audio']) {
      result.audioWarmMs = await page.evaluate(() => window.livestack.warmAudio());
      log(`audio output started in ${result.audioWarmMs} ms (before playing; --cold-audio skips this)`);
    }
    await page.evaluate(([u, o]) => window.livestack.start(u, o), [opts.url, { lowLatency: opts['low-latency'], startLevel: opts.abr ? 0 : -1, debug: opts.debug }]);

    // Wait for playback to start.
    const deadline = Date.now() + timeout * 1000;
    for (;;) {
      s = await state();
      if (s.fatal) throw new Error('hls.js fatal error before playback: ' + s.fatal);
      if (s.firstPlayingMs) break;
      if (Date.now() > deadline) throw new Error(`playback did not start within ${timeout} s (levels ${s.levels.length}, fragments ${JSON.stringify(s.fragLevels)}, errors ${JSON.stringify(s.errors.slice(-5))})`);
      await sleep(100);
    }
    result.startupMs = s.firstPlayingMs;
    log(`playing after ${s.firstPlayingMs} ms`);

    // The measurement window: seconds of wall clock, currentTime must follow.
    const windows = [];
    const measure = async (label) => {
      const a = await state();
      const t0 = Date.now(), c0 = a.samples.at(-1).currentTime, w0 = a.waiting, from = a.samples.at(-1).atMs;
      while (Date.now() - t0 < seconds * 1000) {
        await sleep(200);
        const x = await state();
        if (x.fatal) throw new Error(`hls.js fatal error during ${label}: ${x.fatal}`);
      }
      const b = await state();
      const inWin = b.samples.filter((x) => x.atMs >= from);
      const w = {
        label,
        wallSeconds: (Date.now() - t0) / 1000,
        advancedSeconds: Math.round((b.samples.at(-1).currentTime - c0) * 1000) / 1000,
        stalls: b.waiting - w0,
        hlsLatency: stats(inWin.map((x) => x.hlsLatency)),
        wallClockLatency: stats(inWin.map((x) => x.wallLatency)),
        bufferedAhead: stats(inWin.map((x) => x.bufferedAhead)),
      };
      windows.push(w);
      log(`${label}: advanced ${w.advancedSeconds} s in ${w.wallSeconds} s, stalls ${w.stalls}, hls.latency p50 ${w.hlsLatency && w.hlsLatency.p50} s, wall-clock latency p50 ${w.wallClockLatency && w.wallClockLatency.p50} s`);
      return w;
    };

    await measure('play');
    if (catchUp > 1 && opts['low-latency']) {
      await page.evaluate((r) => window.livestack.setCatchUp(r), catchUp);
      await sleep(seconds * 1000);
      await measure(`play with catch-up ${catchUp}`);
    }
    if (opts.abr) {
      s = await state();
      if (s.levels.length < 2) throw new Error(`the master lists ${s.levels.length} level(s); ABR needs at least 2`);
      // Force a switch to the level farthest from the one playing, at the next
      // fragment boundary (hls.nextLevel), then play on it.
      const cur = s.samples.at(-1).level;
      const target = cur <= 0 ? s.levels.length - 1 : 0;
      log(`levels ${JSON.stringify(s.levels.map((l) => l.height + 'p@' + l.bitrate))}; playing level ${cur}, switching to ${target}`);
      await page.evaluate((t) => window.livestack.setLevel(t, 'next'), target);
      const until = Date.now() + timeout * 1000;
      for (;;) {
        s = await state();
        if (s.fatal) throw new Error('hls.js fatal error while switching: ' + s.fatal);
        if (s.switches.some((x) => x.level === target) && (s.fragLevels[target] || 0) > 0) break;
        if (Date.now() > until) throw new Error(`no switch to level ${target} within ${timeout} s (switches ${JSON.stringify(s.switches)}, fragments per level ${JSON.stringify(s.fragLevels)})`);
        await sleep(100);
      }
      await measure(`after switch to level ${target}`);
      result.switchTarget = target;
    }
    if (opts.screenshot) await page.screenshot({ path: opts.screenshot });
    s = await state();
    await page.evaluate(() => window.livestack.stop());
    Object.assign(result, {
      windows,
      advancedSeconds: windows.reduce((a, w) => a + w.advancedSeconds, 0),
      wallSeconds: windows.reduce((a, w) => a + w.wallSeconds, 0),
      stalls: windows.reduce((a, w) => a + w.stalls, 0),
      hlsLatency: windows[0].hlsLatency,
      wallClockLatency: windows[0].wallClockLatency,
      events: s.events,
      targetLatency: s.targetLatency,
      partTarget: s.partTarget,
      partHoldBack: s.partHoldBack,
      partsBuffered: s.partsBuffered,
      levels: s.levels,
      switches: s.switches,
      fragLevels: s.fragLevels,
      errors: s.errors,
    });
    if (opts.samples) result.samples = s.samples;
    // Where the time to the first frame went (ms since start()).
    const at = (n) => { const e = s.events.find((x) => x.name === n); return e ? e.atMs : null; };
    result.startup = {
      manifestMs: at('hlsManifestLoaded'), levelMs: at('hlsLevelLoaded'), firstFragmentMs: at('hlsFragLoaded'),
      metadataMs: at('loadedmetadata'), bufferedMs: at('hlsFragBuffered'), seekingMs: at('seeking'),
      seekedMs: at('seeked'), playingMs: at('playing'),
    };
    log(`startup (ms): ${JSON.stringify(result.startup)}`);
    result.ok = windows.every((w) => w.advancedSeconds > 0);
    if (!result.ok) result.error = 'playback did not advance';
  } finally {
    await browser.close();
    if (pageServer) pageServer.close();
  }
}

try {
  await main();
} catch (e) {
  result.ok = false;
  result.error = e.message;
}
process.stdout.write(JSON.stringify(result) + '\n');
process.exit(0);
