extension ConsolePage {
    /// The page's structure; ids and `data-*` attributes are what ConsoleBrowserTests query.
    static let markup = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>BlobHub Realtime console</title>
<style>
<!-- style -->
</style>
</head>
<body>
<header>
  <h1>BlobHub Realtime</h1>
  <span id="state" data-state="closed">disconnected</span>
  <span id="rate" title="events per second over the last 10 seconds">0.0 events/s</span>
  <span id="stats"></span>
  <span id="note"></span>
</header>
<form id="form">
  <label>Bearer token<input id="token" autocomplete="off"></label>
  <label>or API key<input id="api_key" autocomplete="off"></label>
  <label>Scope<select id="scope"><option>revision</option><option>core</option></select></label>
  <label>Scope id (revision)<input id="scope_id"></label>
  <label>Target<select id="target"><option>session</option><option>execution</option><option>user</option><option>organization</option><option>blob</option><option>revision</option></select></label>
  <label>Target id<input id="target_id"></label>
  <label>Types (comma separated, empty = all)<input id="types"></label>
  <label>Since (empty = live only, 0 = all retained)<input id="since" inputmode="numeric"></label>
  <label>&nbsp;<span><button type="submit" id="connect">Connect</button> <button type="button" id="disconnect">Disconnect</button> <button type="button" id="clear">Clear</button></span></label>
</form>
<div id="error"></div>
<nav id="tabs">
  <button type="button" id="tab-session" class="tab selected" data-view="session-view">Session</button>
  <button type="button" id="tab-events" class="tab" data-view="events-view">Events</button>
</nav>
<main>
  <section id="session-view" class="view">
    <p id="session-empty" class="hint">No executions yet. Executions of the subscribed session (or the subscribed execution) appear here as their events arrive.</p>
    <table id="executions-table">
      <thead><tr><th></th><th>Execution</th><th>Status</th><th>Started</th><th>Ended</th><th>Duration</th><th>Steps</th><th>Message</th></tr></thead>
      <tbody id="executions"></tbody>
    </table>
    <h2>Session activity</h2>
    <ul id="activity"></ul>
  </section>
  <section id="events-view" class="view" hidden>
    <table><thead><tr><th>Offset</th><th>Time</th><th>Type</th><th>Target</th><th>Event</th></tr></thead><tbody id="events"></tbody></table>
  </section>
</main>
<script type="module">
<!-- script -->
</script>
</body>
</html>
"""#

    static let style = #"""
  body { font: 14px/1.4 system-ui, sans-serif; margin: 0; background: #f6f7f9; color: #1d2330; }
  header { background: #1d2330; color: #fff; padding: 10px 16px; display: flex; gap: 16px; align-items: center; flex-wrap: wrap; }
  header h1 { font-size: 16px; margin: 0; }
  #state { padding: 2px 10px; border-radius: 10px; background: #666; font-size: 12px; }
  #state[data-state=open] { background: #1f8f4e; } #state[data-state=connecting] { background: #b7791f; }
  #state[data-state=reconnecting] { background: #c05621; } #state[data-state=closed] { background: #666; }
  #rate, #stats { font-size: 12px; color: #cbd2e0; font-variant-numeric: tabular-nums; }
  #note { font-size: 12px; color: #9ae6b4; }
  form { display: grid; grid-template-columns: repeat(auto-fit, minmax(170px, 1fr)); gap: 8px; padding: 12px 16px; background: #fff; border-bottom: 1px solid #dde; }
  label { display: flex; flex-direction: column; font-size: 12px; color: #556; }
  label > span { display: flex; gap: 4px; flex-wrap: nowrap; }
  input, select, button { font: inherit; padding: 5px 6px; }
  button { cursor: pointer; }
  #error { color: #c53030; padding: 4px 16px; min-height: 1.2em; }
  nav { display: flex; gap: 4px; padding: 0 16px; border-bottom: 1px solid #dde; }
  .tab { border: 1px solid #dde; border-bottom: none; background: #eef0f4; border-radius: 6px 6px 0 0; padding: 5px 14px; }
  .tab.selected { background: #fff; font-weight: 600; }
  main { padding: 0 16px 16px; }
  .view { background: #fff; }
  .hint { color: #667; padding: 8px; margin: 0; }
  h2 { font-size: 13px; margin: 16px 8px 4px; color: #445; }
  table { width: 100%; border-collapse: collapse; background: #fff; }
  th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #eef; vertical-align: top; font-size: 13px; }
  td.num { font-variant-numeric: tabular-nums; white-space: nowrap; }
  td.json pre, pre.detail { margin: 0; white-space: pre-wrap; word-break: break-all; font-size: 12px; }
  details summary { cursor: pointer; color: #335; }
  tr.execution { cursor: pointer; } tr.execution:hover { background: #f3f6fb; }
  td.toggle { width: 1em; color: #667; }
  code.id { font-size: 12px; color: #445; }
  .badge { display: inline-block; padding: 1px 8px; border-radius: 9px; font-size: 12px; color: #fff; }
  .badge.running { background: #2b6cb0; } .badge.completed { background: #1f8f4e; } .badge.failed { background: #c53030; }
  .badge.done { background: #1f8f4e; } .badge.error { background: #c53030; }
  tr.timeline > td { background: #fafbfd; padding: 6px 8px 10px 28px; }
  .step { display: grid; grid-template-columns: 160px 1fr 90px 80px; gap: 8px; align-items: center; padding: 2px 0; cursor: pointer; }
  .step .name { font-family: ui-monospace, monospace; font-size: 12px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
  .step .track { position: relative; height: 12px; background: #edf0f5; border-radius: 3px; }
  .step .bar { position: absolute; top: 0; bottom: 0; border-radius: 3px; min-width: 3px; }
  .step[data-status=running] .bar { background: #63b3ed; } .step[data-status=done] .bar { background: #48bb78; }
  .step[data-status=error] .bar { background: #f56565; }
  .step .dur { font-size: 12px; text-align: right; font-variant-numeric: tabular-nums; }
  .step.selected .name { font-weight: 700; }
  pre.detail { background: #fff; border: 1px solid #e2e6ee; padding: 6px 8px; margin: 4px 0 6px 168px; }
  #activity { list-style: none; margin: 0; padding: 0 8px 8px; font-size: 12px; }
  #activity li { padding: 2px 0; border-bottom: 1px solid #f0f2f5; }
  #activity .time { color: #778; margin-right: 8px; font-variant-numeric: tabular-nums; }
"""#
}
