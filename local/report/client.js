/* The page script of report.html (inlined by local/report/report.ts; runs in the browser, no network).
 * Reads the JSON in #report-data and draws the summary, the charts (TradingView Lightweight Charts, the
 * global `LightweightCharts`), the trades table and the milestone table. Times are shown in UTC. */
/* global document, window, console, LightweightCharts */
(function () {
  'use strict';

  const LC = LightweightCharts;
  const data = JSON.parse(document.getElementById('report-data').textContent);
  const R = data.results;
  const S = R.summary;
  const RUN = R.run || null;
  const QUOTE = (S.symbols[0] || '').split(':')[1] || 'USDT';
  const UP = '#089981';
  const DOWN = '#f23645';
  const STOP = '#f57c00';
  const TARGET = '#2e7d32';
  const MUTED = '#8a8f98';
  const RESOLUTIONS = [60, 180, 300, 900, 1800, 3600, 7200, 14400, 21600, 43200, 86400].map((s) => s * 1000);
  const charts = [];

  // ---------- formatting ----------
  const short = (symbol) => symbol.split('/')[0];
  const ms = (iso) => (iso === null || iso === undefined ? null : Date.parse(iso));
  const num = (s) => (s === null || s === undefined ? null : Number(s));
  function money(value, digits) {
    if (value === null || value === undefined) return '—';
    const n = Number(value);
    const text = Math.abs(n).toFixed(digits === undefined ? 2 : digits);
    return (n < 0 ? '−' : n > 0 ? '+' : '') + text;
  }
  function plain(value, digits) {
    return value === null || value === undefined ? '—' : Number(value).toFixed(digits);
  }
  function price(value) {
    return value === null || value === undefined ? '—' : String(value);
  }
  function pct(fraction, digits) {
    return fraction === null || fraction === undefined ? 'n/a' : (fraction * 100).toFixed(digits) + ' %';
  }
  function ratio(x) {
    return x === null || x === undefined ? 'n/a' : x.toFixed(2);
  }
  function utc(t, withSeconds) {
    if (t === null || t === undefined) return '—';
    const iso = new Date(t).toISOString();
    return iso.slice(5, withSeconds ? 19 : 16).replace('T', ' ');
  }
  function duration(seconds) {
    if (seconds === null || seconds === undefined) return '—';
    const s = Math.round(seconds);
    if (s < 60) return s + 's';
    if (s < 3600)
      return Math.floor(s / 60) + 'm' + (s % 60 ? ' ' + String(s % 60).padStart(2, '0') + 's' : '');
    const h = Math.floor(s / 3600);
    const m = Math.round((s % 3600) / 60);
    if (h < 48) return h + 'h' + (m ? ' ' + String(m).padStart(2, '0') + 'm' : '');
    return (s / 86400).toFixed(1) + 'd';
  }
  function resLabel(msValue) {
    const m = msValue / 60000;
    if (m < 60) return m + 'm';
    if (m < 1440) return m / 60 + 'h';
    return m / 1440 + 'd';
  }
  function signClass(value) {
    const n = Number(value);
    return n > 0 ? 'pos' : n < 0 ? 'neg' : '';
  }
  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    if (attrs) {
      for (const [k, v] of Object.entries(attrs)) {
        if (v === null || v === undefined || v === false) continue;
        if (k === 'text') node.textContent = v;
        else if (k === 'class') node.className = v;
        else node.setAttribute(k, v === true ? '' : v);
      }
    }
    for (const c of children || []) if (c !== null && c !== undefined) node.append(c);
    return node;
  }

  // ---------- derived trade facts ----------
  const traded = R.trades.filter((t) => t.entryFilledAt !== null);
  const thresholds = Object.keys(S.milestones).sort((a, b) => Number(a) - Number(b));
  const rows = R.trades.map((t, i) => {
    const entryAt = ms(t.entryFilledAt);
    const exitAt = ms(t.exitAt);
    const pnl = num(t.realizedPnl);
    const maxLoss = num(t.maxLoss);
    const live = thresholds.filter((k) => t.milestones[k] !== null && t.milestones[k] !== undefined);
    const shadow = thresholds.filter(
      (k) => t.shadowMilestones[k] !== null && t.shadowMilestones[k] !== undefined,
    );
    return {
      n: i + 1,
      t,
      entryAt,
      exitAt,
      signalAt: ms(t.signalAt),
      pnl,
      r: pnl !== null && maxLoss ? pnl / maxLoss : null,
      held: entryAt !== null && exitAt !== null ? (exitAt - entryAt) / 1000 : null,
      live,
      bestShadow: shadow.length ? Number(shadow[shadow.length - 1]) : null,
      stopMoves: Math.max(0, t.stops.length - 1),
    };
  });

  // ---------- header facts ----------
  function renderFacts() {
    const box = document.getElementById('run-facts');
    const facts = [
      ['Engine', S.engine],
      ['Window (UTC)', utc(ms(S.from)) + ' → ' + utc(ms(S.to))],
      ['Symbols', S.symbols.map(short).join(', ')],
      ['Candles', S.candles.toLocaleString('en-US')],
      [
        'Signals',
        S.signals +
          ' (' +
          S.trades +
          ' traded, ' +
          S.skipped +
          ' skipped, ' +
          S.cancelled +
          ' cancelled, ' +
          S.failed +
          ' failed' +
          (S.duplicateSignals ? ', ' + S.duplicateSignals + ' duplicates' : '') +
          ')',
      ],
    ];
    if (RUN) {
      const fm = RUN.fillModel;
      facts.push([
        'Fill model',
        fm.slippageBps + ' bps slippage, taker ' + fm.takerFeeRate + ', maker ' + fm.makerFeeRate,
      ]);
      if (RUN.seed !== null) facts.push(['Seed', String(RUN.seed)]);
    }
    for (const [k, v] of facts) box.append(el('span', { class: 'fact' }, [el('b', { text: k }), ' ' + v]));
  }

  // ---------- summary cards ----------
  function leaves(value, path, out) {
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      for (const [k, v] of Object.entries(value)) leaves(v, path.concat(k), out);
    } else out.push([path, value]);
    return out;
  }
  const extraLeaves = leaves(data.extras, [], []);
  function findLeaf(re) {
    return extraLeaves.find(([p, v]) => re.test(p.join('.')) && typeof v === 'number');
  }

  function card(label, value, sub, cls) {
    return el('div', { class: 'card ' + (cls || '') }, [
      el('div', { class: 'card-label', text: label }),
      el('div', { class: 'card-value', text: value }),
      sub ? el('div', { class: 'card-sub', text: sub }) : null,
    ]);
  }

  function renderSummary() {
    const box = document.getElementById('summary');
    const grid = el('div', { class: 'cards' });
    grid.append(
      card(
        'Net PnL',
        money(S.netPnl) + ' ' + QUOTE,
        'after ' + plain(S.fees, 2) + ' ' + QUOTE + ' fees',
        signClass(S.netPnl),
      ),
      card('Closed trades', String(S.trades), S.wins + ' won · ' + S.losses + ' lost'),
      card('Win rate', pct(S.winRate, 1), null),
      card(
        'Profit factor',
        ratio(S.profitFactor),
        S.expectancy === null ? null : 'expectancy ' + money(S.expectancy) + ' ' + QUOTE + ' / trade',
      ),
      card('Sharpe / Sortino', ratio(S.sharpe) + ' / ' + ratio(S.sortino), 'daily returns, ×√365'),
      card(
        'Max drawdown',
        money(-Number(S.maxDrawdown)) + ' ' + QUOTE,
        S.maxDrawdownPct.toFixed(3) + ' % of the equity peak',
        Number(S.maxDrawdown) > 0 ? 'neg' : '',
      ),
      card('Fees', plain(S.fees, 2) + ' ' + QUOTE, null),
      card(
        'Stop updates',
        S.stopUpdates.applied + ' applied',
        S.stopUpdates.skippedMinStep + ' skipped below the minimum step',
      ),
      card(
        'Fail-safe',
        S.failSafeRejections + ' rejected',
        S.failSafeTightened + ' initial stop' + (S.failSafeTightened === 1 ? '' : 's') + ' tightened',
        S.failSafeRejections > 0 ? 'warn' : '',
      ),
    );
    const p50 = findLeaf(/(latency|fillToStop).*p50/i);
    const p99 = findLeaf(/(latency|fillToStop).*p99/i);
    if (p50 || p99) {
      const unit = (leaf) => (leaf && /seconds|(^|\.)s$/i.test(leaf[0].join('.')) ? ' s' : ' ms');
      grid.append(
        card(
          'Fill → stop latency',
          (p50 ? 'p50 ' + p50[1] + unit(p50) : '') +
            (p50 && p99 ? ' · ' : '') +
            (p99 ? 'p99 ' + p99[1] + unit(p99) : ''),
          'simulated time from entry fill to the exchange stop',
        ),
      );
    }
    const dlq = findLeaf(/dlq|deadLetter/i);
    if (dlq)
      grid.append(
        card(
          'Dead-letter queue',
          String(dlq[1]),
          'messages left (' + dlq[0].join('.') + ')',
          dlq[1] > 0 ? 'neg' : '',
        ),
      );
    box.append(grid);

    const lists = el('div', { class: 'lists' });
    const reasons = Object.entries(S.exitReasons).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
    lists.append(
      el('div', { class: 'list' }, [
        el('h3', { text: 'Exit reasons' }),
        reasons.length
          ? el(
              'ul',
              { class: 'bars' },
              reasons.map(([r, n]) =>
                el('li', null, [
                  el('span', { class: 'bar-label', text: r }),
                  el('span', {
                    class: 'bar',
                    style: 'width:' + Math.max(4, (n / Math.max(1, S.trades)) * 100) + '%',
                  }),
                  el('span', { class: 'bar-n', text: String(n) }),
                ]),
              ),
            )
          : el('p', { class: 'hint', text: 'no closed trades' }),
      ]),
    );
    const gapItems = [];
    if (RUN) {
      for (const [symbol, gaps] of Object.entries(RUN.gaps)) {
        for (const g of gaps) {
          gapItems.push(
            el('li', {
              text:
                short(symbol) +
                ': ' +
                utc(ms(g.from)) +
                ' → ' +
                utc(ms(g.to)) +
                ' (' +
                g.candles +
                ' candles missing)',
            }),
          );
        }
      }
    }
    lists.append(
      el('div', { class: 'list' }, [
        el('h3', { text: 'Data gaps' }),
        gapItems.length
          ? el('ul', { class: 'plain' }, gapItems)
          : el('p', { class: 'hint', text: RUN ? 'none' : 'not recorded' }),
      ]),
    );
    box.append(lists);
  }

  // ---------- candles ----------
  function decodeCandles(enc) {
    const out = [];
    let t = enc.t0;
    for (let i = 0; i < enc.dt.length; i += 1) {
      t += enc.dt[i] * enc.intervalMs;
      out.push({ t, o: enc.o[i], h: enc.h[i], l: enc.l[i], c: enc.c[i] });
    }
    return out;
  }
  function aggregate(list, res) {
    const out = [];
    let cur = null;
    for (const k of list) {
      const start = Math.floor(k.t / res) * res;
      if (cur && cur.t === start) {
        if (k.h > cur.h) cur.h = k.h;
        if (k.l < cur.l) cur.l = k.l;
        cur.c = k.c;
      } else {
        cur = { t: start, o: k.o, h: k.h, l: k.l, c: k.c };
        out.push(cur);
      }
    }
    return out;
  }
  /** Index of the first bar at or after time t (ms); bars.length if none. */
  function barAtOrAfter(times, t) {
    let lo = 0;
    let hi = times.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (times[mid] < t) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
  /** Index of the bar containing t: the last bar opening at or before t, else the first bar. */
  function barIndex(times, t) {
    let i = barAtOrAfter(times, t);
    if (i === times.length || times[i] > t) i -= 1;
    return Math.max(0, i);
  }
  /** Time (s) of the bar containing t, null without bars. */
  function barTime(times, t) {
    return times.length ? times[barIndex(times, t)] / 1000 : null;
  }

  const allRes = (enc) => RESOLUTIONS.filter((r) => r >= enc.intervalMs && r % enc.intervalMs === 0);
  /** The finest resolution whose bars fit the plot at one pixel or more per bar. */
  function defaultRes(enc, count, plotWidth) {
    const span = count * enc.intervalMs;
    const options = allRes(enc);
    return options.find((r) => span / r <= plotWidth) || options[options.length - 1] || enc.intervalMs;
  }

  function stopPath(trade, times) {
    // The stop resting at each bar's open from the entry bar to the exit bar; the entry bar shows the
    // initial stop and the exit bar the stop in force at the exit.
    const stops = trade.stops.map((s) => ({ at: ms(s.at), price: Number(s.price) }));
    if (!stops.length) return [];
    const entry = ms(trade.entryFilledAt);
    const exit = ms(trade.exitAt) ?? ms(S.to);
    if (!times.length) return [];
    const first = barIndex(times, entry);
    const last = barIndex(times, exit);
    const points = [];
    const stopAt = (t) => {
      let p = stops[0].price;
      for (const s of stops) if (s.at <= t) p = s.price;
      return p;
    };
    for (let i = first; i <= last; i += 1) {
      const open = times[i];
      const isFirst = i === first;
      const isLast = i === last;
      const value = isFirst ? stops[0].price : isLast ? stopAt(exit) : stopAt(open);
      points.push({ time: open / 1000, value });
    }
    return points;
  }

  function tradeMarkers(symbol, times) {
    const markers = [];
    for (const row of rows) {
      const t = row.t;
      if (t.symbol !== symbol) continue;
      if (row.entryAt === null) {
        const at = barTime(times, row.signalAt);
        if (at === null) continue;
        markers.push({
          time: at,
          position: t.side === 'long' ? 'belowBar' : 'aboveBar',
          shape: 'circle',
          color: MUTED,
          size: 0.6,
          text: '#' + row.n + ' ' + t.outcome.toLowerCase(),
          entry: true,
        });
        continue;
      }
      const long = t.side === 'long';
      markers.push({
        time: barTime(times, row.entryAt),
        position: long ? 'atPriceBottom' : 'atPriceTop',
        price: Number(t.entryPrice),
        shape: long ? 'arrowUp' : 'arrowDown',
        color: long ? UP : DOWN,
        text: '#' + row.n + (long ? ' long' : ' short'),
        entry: true,
      });
      for (const p of t.partialExits) {
        markers.push({
          time: barTime(times, ms(p.at)),
          position: 'atPriceMiddle',
          price: Number(p.price),
          shape: 'square',
          color: TARGET,
          size: 0.7,
        });
      }
      if (row.exitAt !== null) {
        markers.push({
          time: barTime(times, row.exitAt),
          position: 'atPriceMiddle',
          price: Number(t.exitPrice),
          shape: 'circle',
          color: row.pnl > 0 ? UP : row.pnl < 0 ? DOWN : MUTED,
          text: money(row.pnl),
        });
      }
    }
    if (RUN && RUN.gaps[symbol]) {
      for (const g of RUN.gaps[symbol]) {
        const i = barAtOrAfter(times, ms(g.to));
        if (i < times.length) {
          markers.push({
            time: times[i] / 1000,
            position: 'aboveBar',
            shape: 'square',
            color: MUTED,
            size: 0.5,
            text: 'gap ' + duration((ms(g.to) - ms(g.from)) / 1000),
            keepText: true,
          });
        }
      }
    }
    return markers.filter((m) => m.time !== null).sort((a, b) => a.time - b.time);
  }

  /** Chart options with the holder's size (charts are resized with the window, see sizeCharts). */
  function baseChartOptions(holder) {
    const box = holder.getBoundingClientRect();
    return {
      width: Math.max(200, Math.floor(box.width)),
      height: Math.max(150, Math.floor(box.height)),
      layout: {
        background: { type: 'solid', color: '#ffffff' },
        textColor: '#3b4250',
        fontSize: 11,
        fontFamily: 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif',
      },
      grid: { vertLines: { color: '#f0f2f5' }, horzLines: { color: '#f0f2f5' } },
      rightPriceScale: { borderColor: '#d9dde3' },
      timeScale: { borderColor: '#d9dde3', timeVisible: true, secondsVisible: false },
      crosshair: { mode: LC.CrosshairMode.Normal },
    };
  }

  function symbolChart(symbol, enc) {
    const base = decodeCandles(enc);
    const symbolRows = rows.filter((r) => r.t.symbol === symbol);
    const closed = symbolRows.filter((r) => r.pnl !== null);
    const pnl = closed.reduce((a, r) => a + r.pnl, 0);
    const legend = el('div', { class: 'legend' });
    const holder = el('div', { class: 'chart chart-candles', 'data-symbol': symbol });
    const resTag = el('span', { class: 'res-tag' });
    const head = el('div', { class: 'chart-head' }, [
      el('h3', null, [symbol + ' ', resTag]),
      el('span', {
        class: 'chart-meta',
        text:
          closed.length +
          ' closed trade' +
          (closed.length === 1 ? '' : 's') +
          ' · net ' +
          money(pnl) +
          ' ' +
          QUOTE +
          (enc.intervalMs !== enc.sourceIntervalMs ? ' · stored at ' + resLabel(enc.intervalMs) : ''),
      }),
    ]);
    const wrap = el('div', { class: 'chart-card' }, [
      head,
      el('div', { class: 'chart-box' }, [holder, legend]),
    ]);
    document.getElementById('charts').append(wrap);

    const chart = LC.createChart(holder, baseChartOptions(holder));
    const minMove = Math.pow(10, -enc.precision);
    const series = chart.addSeries(LC.CandlestickSeries, {
      upColor: UP,
      downColor: DOWN,
      borderVisible: false,
      wickUpColor: UP,
      wickDownColor: DOWN,
      priceFormat: { type: 'price', precision: enc.precision, minMove },
    });
    const markers = LC.createSeriesMarkers(series, []);
    // Marker texts only while few trades are in view, so an overview of many trades stays readable.
    let allMarkers = [];
    let withText = null;
    function showMarkers() {
      const range = chart.timeScale().getVisibleRange();
      const inView = range
        ? allMarkers.filter((m) => m.entry && m.time >= range.from && m.time <= range.to).length
        : allMarkers.length;
      const want = inView <= 12;
      if (want === withText) return;
      withText = want;
      for (const line of tradeLines) {
        const dot = want && line.points === 1;
        line.stop.applyOptions({ pointMarkersVisible: dot });
        // Targets only when zoomed in: in an overview their short dotted pieces read as noise.
        if (line.target) line.target.applyOptions({ pointMarkersVisible: dot, visible: want });
      }
      markers.setMarkers(
        allMarkers.map((m) => {
          const copy = Object.assign({}, m);
          delete copy.entry;
          if (!want && !m.keepText) copy.text = '';
          delete copy.keepText;
          return copy;
        }),
      );
    }
    chart.timeScale().subscribeVisibleTimeRangeChange(showMarkers);
    const lineOpts = {
      lineWidth: 2,
      lineType: LC.LineType.WithSteps,
      priceLineVisible: false,
      lastValueVisible: false,
      crosshairMarkerVisible: false,
      priceFormat: { type: 'price', precision: enc.precision, minMove },
    };
    const tradeLines = symbolRows
      .filter((r) => r.entryAt !== null)
      .map((r) => ({
        row: r,
        stop: chart.addSeries(LC.LineSeries, Object.assign({ color: STOP }, lineOpts)),
        target:
          r.t.takeProfit === null
            ? null
            : chart.addSeries(
                LC.LineSeries,
                Object.assign({}, lineOpts, { color: TARGET, lineWidth: 1, lineStyle: LC.LineStyle.Dotted }),
              ),
      }));

    const state = { symbol, chart, holder, res: 0, times: [], bars: [] };
    function setRes(res) {
      if (state.res === res) return;
      state.res = res;
      const bars = res === enc.intervalMs ? base : aggregate(base, res);
      state.bars = bars;
      state.times = bars.map((b) => b.t);
      series.setData(bars.map((b) => ({ time: b.t / 1000, open: b.o, high: b.h, low: b.l, close: b.c })));
      for (const line of tradeLines) {
        const path = stopPath(line.row.t, state.times);
        line.stop.setData(path);
        line.points = path.length;
        if (line.target) {
          const tp = Number(line.row.t.takeProfit);
          line.target.setData(path.map((p) => ({ time: p.time, value: tp })));
        }
      }
      allMarkers = tradeMarkers(symbol, state.times);
      withText = null;
      showMarkers();
      resTag.textContent = resLabel(res) + ' candles';
    }
    state.setRes = setRes;
    state.defaultRes = defaultRes(enc, base.length, Math.max(300, holder.getBoundingClientRect().width - 80));
    state.finestRes = enc.intervalMs;
    state.fit = () => chart.timeScale().fitContent();
    state.zoom = (fromMs, toMs) => {
      if (state.res !== state.finestRes) setRes(state.finestRes);
      chart.timeScale().setVisibleRange({ from: fromMs / 1000, to: toMs / 1000 });
    };
    setRes(state.defaultRes);
    state.fit();
    holder.addEventListener('dblclick', () => {
      setRes(state.defaultRes);
      state.fit();
    });

    const precision = enc.precision;
    chart.subscribeCrosshairMove((param) => {
      const bar = param && param.seriesData ? param.seriesData.get(series) : null;
      if (!bar) {
        legend.textContent = '';
        return;
      }
      const f = (x) => x.toFixed(precision);
      const change = ((bar.close - bar.open) / bar.open) * 100;
      legend.textContent =
        utc(bar.time * 1000) +
        ' UTC  O ' +
        f(bar.open) +
        '  H ' +
        f(bar.high) +
        '  L ' +
        f(bar.low) +
        '  C ' +
        f(bar.close) +
        '  ' +
        (change >= 0 ? '+' : '') +
        change.toFixed(2) +
        '%';
    });
    return state;
  }

  function renderCharts() {
    const symbols = S.symbols.filter((s) => data.candles[s]);
    const group = document.getElementById('resolution');
    const finest = Math.max(...symbols.map((s) => data.candles[s].intervalMs));
    const options = RESOLUTIONS.filter(
      (r) => r >= finest && symbols.every((s) => r % data.candles[s].intervalMs === 0),
    ).slice(0, 7);
    const buttons = options.map((r) =>
      el('button', { type: 'button', 'data-res': String(r), text: resLabel(r) }),
    );
    group.append(el('span', { class: 'hint', text: 'Candles ' }), ...buttons);
    // Two charts a row on a wide window, one otherwise; fixed before the charts are sized.
    const box = document.getElementById('charts');
    box.style.gridTemplateColumns =
      symbols.length > 1 && box.clientWidth >= 1250 ? 'repeat(2, minmax(0, 1fr))' : 'minmax(0, 1fr)';
    for (const s of symbols) charts.push(symbolChart(s, data.candles[s]));
    for (const b of buttons) {
      b.addEventListener('click', () => {
        const r = Number(b.dataset.res);
        for (const c of charts) {
          c.setRes(Math.max(r, c.finestRes));
          c.fit();
        }
        for (const x of buttons) x.classList.toggle('active', x === b);
      });
    }
    const first = charts[0];
    for (const b of buttons)
      b.classList.toggle('active', first !== undefined && Number(b.dataset.res) === first.res);
  }

  // ---------- equity ----------
  function renderEquity() {
    const holder = document.getElementById('equity');
    const chart = LC.createChart(holder, baseChartOptions(holder));
    const pts = data.equity.points;
    const eq = chart.addSeries(LC.BaselineSeries, {
      baseValue: { type: 'price', price: 0 },
      topLineColor: UP,
      topFillColor1: 'rgba(8,153,129,0.28)',
      topFillColor2: 'rgba(8,153,129,0.04)',
      bottomLineColor: DOWN,
      bottomFillColor1: 'rgba(242,54,69,0.04)',
      bottomFillColor2: 'rgba(242,54,69,0.28)',
      lineWidth: 2,
      lineType: LC.LineType.WithSteps,
      title: 'equity',
      priceFormat: { type: 'price', precision: 2, minMove: 0.01 },
    });
    eq.setData(pts.map((p) => ({ time: p.t / 1000, value: p.equity })));
    const dd = chart.addSeries(
      LC.AreaSeries,
      {
        lineColor: DOWN,
        topColor: 'rgba(242,54,69,0.05)',
        bottomColor: 'rgba(242,54,69,0.35)',
        invertFilledArea: true,
        lineWidth: 1,
        lineType: LC.LineType.WithSteps,
        title: 'drawdown',
        priceFormat: { type: 'price', precision: 2, minMove: 0.01 },
      },
      1,
    );
    dd.setData(pts.map((p) => ({ time: p.t / 1000, value: p.drawdown })));
    const panes = chart.panes();
    if (panes[1]) panes[1].setHeight(90);
    chart.timeScale().fitContent();
    charts.push({ symbol: 'equity', chart, holder, fit: () => chart.timeScale().fitContent() });
  }

  // ---------- trades table ----------
  function zoomTo(row) {
    const c = charts.find((x) => x.symbol === row.t.symbol);
    if (!c || !c.zoom) return;
    const start = row.entryAt ?? row.signalAt;
    const end = row.exitAt ?? start + 30 * 60000;
    const pad = Math.max(20 * c.finestRes, (end - start) * 0.6);
    c.zoom(start - pad, end + pad);
    c.chart.timeScale().applyOptions({});
    document
      .querySelector('.chart[data-symbol="' + row.t.symbol + '"]')
      .closest('.chart-card')
      .scrollIntoView({ behavior: 'smooth', block: 'center' });
  }

  function renderTrades() {
    const table = document.getElementById('trades');
    const milestoneText = (r) =>
      r.live.length ? r.live.map((k) => k + '% ' + duration(r.t.milestones[k])).join(', ') : '—';
    const columns = [
      { label: '#', num: true, sort: (r) => r.n, cell: (r) => String(r.n) },
      {
        label: 'Trade',
        sort: (r) => r.t.signalId,
        cell: (r) => r.t.signalId,
        cls: 'id',
        title: (r) => r.t.tradeId,
      },
      { label: 'Symbol', sort: (r) => r.t.symbol, cell: (r) => short(r.t.symbol) },
      { label: 'Side', sort: (r) => r.t.side, cell: (r) => r.t.side, cls: (r) => 'side-' + r.t.side },
      {
        label: 'Outcome',
        sort: (r) => r.t.outcome,
        cell: (r) => r.t.outcome.toLowerCase(),
        title: (r) => r.t.statusReason,
      },
      {
        label: 'Entry (UTC)',
        num: true,
        sort: (r) => r.entryAt ?? r.signalAt,
        cell: (r) => utc(r.entryAt ?? r.signalAt, true),
      },
      { label: 'Entry', num: true, sort: (r) => num(r.t.entryPrice), cell: (r) => price(r.t.entryPrice) },
      { label: 'Exit (UTC)', num: true, sort: (r) => r.exitAt, cell: (r) => utc(r.exitAt, true) },
      { label: 'Exit', num: true, sort: (r) => num(r.t.exitPrice), cell: (r) => price(r.t.exitPrice) },
      {
        label: 'Reason',
        sort: (r) => r.t.exitReason ?? r.t.statusReason,
        cell: (r) => r.t.exitReason ?? (r.t.statusReason ? r.t.statusReason.split(':')[0] : '—'),
        title: (r) => r.t.statusReason,
      },
      {
        label: 'PnL',
        num: true,
        sort: (r) => r.pnl,
        cell: (r) => money(r.pnl),
        cls: (r) => signClass(r.pnl),
      },
      {
        label: 'R',
        num: true,
        sort: (r) => r.r,
        cell: (r) => (r.r === null ? '—' : money(r.r) + 'R'),
        cls: (r) => signClass(r.r),
      },
      { label: 'Max loss', num: true, sort: (r) => num(r.t.maxLoss), cell: (r) => plain(r.t.maxLoss, 2) },
      { label: 'Fees', num: true, sort: (r) => num(r.t.fees), cell: (r) => plain(r.t.fees, 2) },
      { label: 'Held', num: true, sort: (r) => r.held, cell: (r) => duration(r.held) },
      {
        label: 'Stop moves',
        num: true,
        sort: (r) => r.stopMoves,
        cell: (r) => String(r.stopMoves),
        title: (r) => r.t.stops.map((s) => utc(ms(s.at), true) + ' ' + s.price + ' ' + s.reason).join('\n'),
      },
      { label: 'Milestones (live)', sort: (r) => r.live.length, cell: milestoneText },
      {
        label: 'Best shadow',
        num: true,
        sort: (r) => r.bestShadow,
        cell: (r) => (r.bestShadow === null ? '—' : r.bestShadow + '%'),
      },
    ];
    const thead = el('thead');
    const headRow = el('tr');
    const tbody = el('tbody');
    let sortCol = 0;
    let sortDir = 1;
    const ths = columns.map((c, i) => {
      const th = el(
        'th',
        {
          class: c.num ? 'num' : '',
          'aria-sort': i === 0 ? 'ascending' : 'none',
          title: 'Sort by ' + c.label,
        },
        [el('button', { type: 'button', text: c.label })],
      );
      th.addEventListener('click', () => {
        sortDir = sortCol === i ? -sortDir : 1;
        sortCol = i;
        ths.forEach((h, j) =>
          h.setAttribute('aria-sort', j === i ? (sortDir > 0 ? 'ascending' : 'descending') : 'none'),
        );
        fill();
      });
      return th;
    });
    headRow.append(...ths);
    thead.append(headRow);
    table.append(thead, tbody);
    function fill() {
      const key = columns[sortCol].sort;
      const sorted = rows.slice().sort((a, b) => {
        const x = key(a);
        const y = key(b);
        if (x === null || x === undefined) return y === null || y === undefined ? a.n - b.n : 1;
        if (y === null || y === undefined) return -1;
        const c = typeof x === 'number' ? x - y : String(x).localeCompare(String(y));
        return c * sortDir || a.n - b.n;
      });
      tbody.replaceChildren(
        ...sorted.map((r) => {
          const cls = r.entryAt === null ? 'not-traded' : r.pnl > 0 ? 'win' : r.pnl < 0 ? 'loss' : '';
          const tr = el(
            'tr',
            { class: cls, tabindex: '0', title: 'Show on the ' + short(r.t.symbol) + ' chart' },
            columns.map((c) =>
              el('td', {
                class:
                  [c.num ? 'num' : '', typeof c.cls === 'function' ? c.cls(r) : c.cls || '']
                    .join(' ')
                    .trim() || null,
                title: c.title ? c.title(r) || null : null,
                text: c.cell(r),
              }),
            ),
          );
          tr.addEventListener('click', () => zoomTo(r));
          tr.addEventListener('keydown', (e) => {
            if (e.key === 'Enter') zoomTo(r);
          });
          return tr;
        }),
      );
    }
    fill();
    document.getElementById('trades-count').textContent =
      rows.length +
      ' signals acted on, ' +
      traded.length +
      ' entered · click a header to sort, a row to show it on its chart';
  }

  // ---------- milestones ----------
  function renderMilestones() {
    const table = document.getElementById('milestones');
    const heads = [
      'Threshold (return on margin)',
      'Live hits',
      'of entered trades',
      'Shadow hits',
      'Median time to hit (live)',
    ];
    table.append(
      el('thead', null, [
        el(
          'tr',
          null,
          heads.map((h, i) => el('th', { class: i ? 'num' : '', text: h })),
        ),
      ]),
    );
    const body = el('tbody');
    for (const k of thresholds) {
      const m = S.milestones[k];
      body.append(
        el('tr', null, [
          el('td', { text: k + ' %' }),
          el('td', { class: 'num', text: String(m.live) }),
          el('td', { class: 'num', text: traded.length ? pct(m.live / traded.length, 0) : 'n/a' }),
          el('td', { class: 'num', text: String(m.shadow) }),
          el('td', {
            class: 'num',
            text:
              m.medianSeconds === null ? 'n/a' : duration(m.medianSeconds) + ' (' + m.medianSeconds + ' s)',
          }),
        ]),
      );
    }
    if (!thresholds.length)
      body.append(
        el('tr', null, [
          el('td', { colspan: '5', class: 'hint', text: 'no milestone thresholds configured' }),
        ]),
      );
    table.append(body);
  }

  // ---------- extra sections (latency, DLQ, invariants, cost model) ----------
  function renderExtras() {
    const box = document.getElementById('extras');
    const keys = Object.keys(data.extras);
    if (!keys.length) return;
    box.append(el('h2', { text: 'Engine checks and measurements' }));
    const grid = el('div', { class: 'extras' });
    for (const key of keys) {
      const list = leaves(data.extras[key], [], []);
      const table = el('table', { class: 'kv' }, [
        el(
          'tbody',
          null,
          list.map(([p, v]) => {
            const ok = v === true ? 'pos' : v === false ? 'neg' : '';
            const text =
              v === true
                ? '✓ yes'
                : v === false
                  ? '✗ no'
                  : Array.isArray(v)
                    ? v.length
                      ? v.map((x) => (typeof x === 'object' ? JSON.stringify(x) : String(x))).join(', ')
                      : 'none'
                    : String(v);
            return el('tr', null, [el('th', { text: p.join(' › ') || key }), el('td', { class: ok, text })]);
          }),
        ),
      ]);
      grid.append(el('div', { class: 'extra' }, [el('h3', { text: key }), table]));
    }
    box.append(grid);
  }

  /** Keeps every chart as wide as its holder when the window is resized. */
  function sizeCharts() {
    for (const c of charts) {
      const box = c.holder.getBoundingClientRect();
      c.chart.resize(Math.max(200, Math.floor(box.width)), Math.max(150, Math.floor(box.height)));
    }
  }

  try {
    renderFacts();
    renderSummary();
    renderCharts();
    renderEquity();
    renderTrades();
    renderMilestones();
    renderExtras();
    // Charts were sized as their cards were added; size them again now the layout is final.
    sizeCharts();
    for (const c of charts) if (c.fit) c.fit();
    window.addEventListener('resize', sizeCharts);
    window.__report = { ready: true, charts: charts.length };
  } catch (e) {
    document.body.prepend(
      el('div', {
        class: 'error',
        text: 'The report could not be drawn: ' + (e && e.message ? e.message : String(e)),
      }),
    );
    console.error(e);
    window.__report = { ready: false, error: String(e) };
  }
})();
