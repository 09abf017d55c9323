// A tiny hls.js player for livestack's browser tests. window.livestack.start(url, opts)
// plays url and keeps window.livestack.state up to date: currentTime progress,
// stalls, level switches, the level of every fragment buffered, and latency
// measured two ways (hls.js's own live-edge estimate, and wall clock against
// EXT-X-PROGRAM-DATE-TIME). The playwright script (play.mjs) drives it; it
// works on its own too: open index.html?src=URL&ll=1 in any browser.
(function () {
  'use strict';

  const state = {
    hlsVersion: (window.Hls && window.Hls.version) || '',
    mseH264AAC: !!(window.MediaSource && MediaSource.isTypeSupported('video/mp4; codecs="avc1.42E01E,mp4a.40.2"')),
    started: false,
    startedAt: 0,         // performance.now() of start()
    firstPlayingMs: 0,    // start() -> currentTime first advanced
    waiting: 0,           // 'waiting' events after playback began (stalls)
    levels: [],           // {index, width, height, bitrate, codecs}
    switches: [],         // LEVEL_SWITCHED: {level, atMs}
    fragLevels: {},       // level index -> fragments buffered
    partsBuffered: 0,     // LL-HLS parts buffered
    errors: [],           // non-fatal hls.js errors (type/details)
    events: [],           // the first of each startup event: {name, atMs, currentTime}
    fatal: '',            // fatal error, if any
    samples: [],          // see sample()
    partTarget: 0,
    partHoldBack: 0,
    targetLatency: 0,
  };
  let hls = null;
  let video = null;
  let timer = 0;

  function now() { return performance.now() - state.startedAt; }

  // sample records the playback position and the latency estimates.
  function sample() {
    if (!video) return;
    const s = {
      atMs: Math.round(now()),
      currentTime: video.currentTime,
      paused: video.paused,
      playbackRate: video.playbackRate,
      readyState: video.readyState,
      bufferedAhead: 0,
      level: hls ? hls.currentLevel : -1,
      hlsLatency: null,   // live edge (playlist end incl. parts) - currentTime, s
      wallLatency: null,  // Date.now() - program date time of currentTime, s
    };
    const b = video.buffered;
    for (let i = 0; i < b.length; i++) {
      if (b.start(i) <= video.currentTime + 0.1 && b.end(i) >= video.currentTime) {
        s.bufferedAhead = b.end(i) - video.currentTime;
      }
    }
    if (hls) {
      if (hls.latency > 0) s.hlsLatency = hls.latency;
      const d = hls.playingDate;
      if (d && !isNaN(d.getTime())) s.wallLatency = (Date.now() - d.getTime()) / 1000;
      if (hls.targetLatency) state.targetLatency = hls.targetLatency;
    }
    // readyState: a seek sets currentTime before the frame there can be shown
    if (!state.firstPlayingMs && video.currentTime > 0 && !video.paused && video.readyState >= 3) {
      state.firstPlayingMs = s.atMs;
    }
    state.samples.push(s);
    if (state.samples.length > 2400) state.samples.shift();
    const st = document.getElementById('status');
    if (st) st.textContent = JSON.stringify(s);
  }

  function start(url, opts) {
    opts = opts || {};
    if (state.started) throw new Error('already started');
    if (!window.Hls || !Hls.isSupported()) throw new Error('hls.js is not supported in this browser (no MediaSource?)');
    state.started = true;
    state.startedAt = performance.now();
    video = document.getElementById('video');
    video.addEventListener('waiting', function () { if (state.firstPlayingMs) state.waiting++; });
    // When each startup step first happened: where the time to first frame goes.
    const seen = {};
    const mark = function (name) {
      if (seen[name]) return;
      seen[name] = true;
      state.events.push({ name: name, atMs: Math.round(now()), currentTime: video.currentTime });
    };
    ['loadedmetadata', 'seeking', 'seeked', 'canplay', 'playing'].forEach(function (e) {
      video.addEventListener(e, function () { mark(e); });
    });
    const config = {
      lowLatencyMode: !!opts.lowLatency,
      enableWorker: true,
      backBufferLength: 10,
      startLevel: typeof opts.startLevel === 'number' ? opts.startLevel : -1,
      manifestLoadingMaxRetry: 6,
      levelLoadingMaxRetry: 6,
      fragLoadingMaxRetry: 6,
      debug: !!opts.debug,
    };
    hls = new Hls(config);
    const E = Hls.Events;
    [E.MANIFEST_LOADED, E.LEVEL_LOADED, E.FRAG_LOADING, E.FRAG_LOADED, E.FRAG_BUFFERED].forEach(function (e) {
      hls.on(e, function () { mark(e); });
    });
    hls.on(E.MANIFEST_PARSED, function (_, data) {
      state.levels = data.levels.map(function (l, i) {
        return { index: i, width: l.width, height: l.height, bitrate: l.bitrate, codecs: [l.videoCodec, l.audioCodec].filter(Boolean).join(',') };
      });
      video.play().catch(function (e) { state.errors.push('play(): ' + e.message); });
    });
    hls.on(E.LEVEL_LOADED, function (_, data) {
      const d = data.details;
      if (d.partTarget) state.partTarget = d.partTarget;
      if (d.partHoldBack) state.partHoldBack = d.partHoldBack;
    });
    hls.on(E.LEVEL_SWITCHED, function (_, data) {
      state.switches.push({ level: data.level, atMs: Math.round(now()) });
    });
    hls.on(E.FRAG_BUFFERED, function (_, data) {
      const f = data.frag;
      if (f.type !== 'main') return;
      state.fragLevels[f.level] = (state.fragLevels[f.level] || 0) + 1;
      if (data.part) state.partsBuffered++;
    });
    hls.on(E.ERROR, function (_, data) {
      const what = data.type + '/' + data.details + (data.response && data.response.code ? ' ' + data.response.code : '') +
        (data.reason ? ' ' + data.reason : '') + (data.error && data.error.message ? ' ' + data.error.message : '');
      if (data.fatal) {
        state.fatal = what;
      } else if (state.errors.length < 50) {
        state.errors.push(what);
      }
    });
    hls.loadSource(url);
    hls.attachMedia(video);
    timer = setInterval(sample, 200);
  }

  // setLevel forces a level: 'next' switches at the next fragment boundary
  // (hls.nextLevel), 'now' flushes the buffer and switches at once
  // (hls.currentLevel); -1 returns to automatic selection.
  function setLevel(level, how) {
    if (!hls) throw new Error('not started');
    if (how === 'now') hls.currentLevel = level; else hls.nextLevel = level;
  }

  // setCatchUp lets hls.js play up to rate times faster to reach its target
  // latency (low-latency mode; hls.js reads the setting on every update).
  function setCatchUp(rate) {
    if (!hls) throw new Error('not started');
    hls.config.maxLiveSyncPlaybackRate = rate;
  }

  // warmAudio starts the browser's audio output (an AudioContext playing a
  // moment of silence until its clock runs), closes it again and resolves with
  // how long that took, in ms. A fresh Chromium launches its audio service
  // process on the first sound: without this, that launch (0.3-0.75 s on a
  // busy 2-core machine) happens inside the video element's first seek, while
  // the wall clock runs and currentTime does not, and so adds to how far
  // behind live hls.js plays with its default settings (it never catches up).
  // A browser that has made a sound before, as a user's usually has, no longer
  // pays it. play.mjs --cold-audio skips this.
  function warmAudio() {
    const t0 = performance.now();
    const ctx = new AudioContext();
    const src = ctx.createBufferSource();
    src.buffer = ctx.createBuffer(1, Math.round(ctx.sampleRate / 10), ctx.sampleRate);
    src.connect(ctx.destination);
    src.start();
    return ctx.resume().then(function () {
      return new Promise(function (resolve, reject) {
        (function poll() {
          if (ctx.currentTime > 0) return resolve();
          if (performance.now() - t0 > 10000) return reject(new Error('the AudioContext clock did not start within 10 s'));
          setTimeout(poll, 10);
        })();
      });
    }).then(function () {
      const ms = Math.round(performance.now() - t0);
      return ctx.close().then(function () { return ms; });
    });
  }

  function stop() {
    clearInterval(timer);
    sample();
    if (hls) hls.destroy();
    hls = null;
  }

  window.livestack = { state: state, start: start, setLevel: setLevel, setCatchUp: setCatchUp, warmAudio: warmAudio, stop: stop, sample: sample };

  const q = new URLSearchParams(location.search);
  if (q.get('src')) start(q.get('src'), { lowLatency: q.get('ll') === '1' });
})();
