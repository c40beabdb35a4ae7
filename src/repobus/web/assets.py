"""The dashboard's only CSS and JavaScript, inlined into every page (nothing is fetched from
the internet).

The script: keeps the write token (from `?token=` or the token box) in sessionStorage and puts
it into each form as it is submitted; asks `window.confirm` for a form with `data-confirm` and
then posts it with `confirm=yes`; listens to `/sse` and, on each change, fetches the page's live
part (`#live[data-part]`) and swaps it in, keeping the value, focus and caret of every field
the person touched (typing never holds updates back); the dot (`#live-state`) says "live"
only while the stream is open and a message (a change or the server's heartbeat) arrived
within the heartbeat interval + 3 s with no change left unapplied that long, else
"reconnecting" or "stale (no update in Ns)" - on every page.
"""

CSS = """
:root{--fg:#1d2330;--mute:#5d6678;--line:#e3e6ec;--bg:#f7f8fa;--card:#fff;--ok:#12703a;
--warn:#a04006;--bad:#b42318;--pause:#4b4bc4;--acc:#175cd3}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);
background:var(--bg)}
header{display:flex;gap:.4em 1.2em;align-items:center;flex-wrap:wrap;padding:.6em 1.2em;
background:#111827;color:#f3f4f6}
header nav{display:flex;flex-wrap:wrap;gap:.2em .9em}
header a{color:#c7d2fe;text-decoration:none}header a.here{color:#fff;
font-weight:600;border-bottom:2px solid #818cf8}
header .brand{font-weight:700;letter-spacing:.02em}
header input{font:inherit;padding:.15em .4em;border-radius:4px;border:1px solid #6b7280;
background:#1f2937;color:#f9fafb;width:14em;max-width:100%}
#live-state{margin-left:auto;font-size:.85em}#live-state.on{color:#86efac}
#live-state.off{color:#fca5a5}
main{padding:1em 1.2em;max-width:1560px}
section{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:.7em 1em;
margin-bottom:1em;min-width:0}
h1{font-size:1.3em;margin:.2em 0 .6em}h2{font-size:1.05em;margin:.1em 0 .5em}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:.3em .5em;border-bottom:1px solid var(--line);vertical-align:top}
td{overflow-wrap:break-word}.who{white-space:nowrap}
th{font-size:.8em;text-transform:uppercase;letter-spacing:.04em;color:var(--mute);
white-space:nowrap}
.num{font-variant-numeric:tabular-nums}
.tid,.ts{white-space:nowrap}a.tid{font-weight:600}
.mute{color:var(--mute)}.empty{color:var(--mute);font-style:italic}
.note{white-space:pre-wrap;overflow-wrap:anywhere}
.tag{display:inline-block;padding:0 .45em;border-radius:9px;font-size:.78em;font-weight:600;
border:1px solid currentColor;margin-right:.3em;white-space:nowrap}
.tag.active{color:var(--ok)}.tag.paused{color:var(--pause)}
.tag.expired,.tag.refused{color:var(--bad)}
.tag.stale{color:var(--warn)}.tag.done,.tag.released{color:var(--mute)}
.tag.takeover{color:var(--bad)}
tr.expired td{background:#fef3f2}tr.stale td{background:#fffaeb}tr.paused td{background:#f4f3ff}
tr.takeover td{background:#fef3f2}
pre{background:#0f172a;color:#e2e8f0;padding:.8em;border-radius:6px;overflow:auto;
white-space:pre-wrap;overflow-wrap:anywhere;max-height:40em}
.scroll{overflow:auto}.scroll:focus-visible{outline:2px solid var(--acc);outline-offset:2px}
form.act{display:inline-flex;flex-wrap:wrap;gap:.3em;margin:.1em .4em .1em 0}
form input,form select,form button{font:inherit;padding:.15em .4em;max-width:100%}
form.filters{display:flex;gap:.6em;flex-wrap:wrap;align-items:end}
form.filters label{display:flex;flex-direction:column;font-size:.8em;color:var(--mute);
max-width:100%}
.flash{padding:.5em .8em;border-radius:6px;margin-bottom:1em;background:#ecfdf3;
border:1px solid #abefc6}.flash.error{background:#fef3f2;border-color:#fecdca}
a{color:var(--acc)}
.summary{display:flex;flex-wrap:wrap;align-items:center;gap:.3em 1.2em}
.counts{display:flex;flex-wrap:wrap;gap:.4em;margin:0;padding:0;list-style:none}
.count{border:1px solid var(--line);border-radius:8px;padding:.2em .7em;background:var(--bg);
white-space:nowrap}
.count .n{font-size:1.35em;font-weight:700;font-variant-numeric:tabular-nums}
.count.expired:not(.zero){border-color:var(--bad);color:var(--bad);background:#fef3f2}
.count.stale:not(.zero),.count.in:not(.zero){border-color:var(--warn);color:var(--warn);
background:#fffaeb}
.count.paused:not(.zero){border-color:var(--pause);color:var(--pause);background:#f4f3ff}
.order{margin:0;font-size:.85em}
.board{display:grid;grid-template-columns:minmax(0,1fr) minmax(20rem,30rem);gap:0 1em;
align-items:start}
.col{min-width:0}
.attention{border-left:4px solid var(--bad)}
.alerts{margin:0 0 .6em;padding-left:1.2em}
.side table.cards td,.side table.cards th{padding:.25em .35em}
svg.timeline{display:block;width:100%;min-width:640px;height:auto;font-size:13px}
svg.timeline .lane0{fill:#f8fafc}svg.timeline .lane1{fill:#eef2f7}
svg.timeline .who{fill:var(--fg);font-weight:600}
svg.timeline .ax{fill:var(--mute);font-size:11px}
svg.timeline .grid{stroke:#d0d5dd;stroke-width:1}
svg.timeline .now{stroke:var(--acc);stroke-width:1.5;stroke-dasharray:4 3}
svg.timeline .bar.active{fill:#d1fadf;stroke:var(--ok)}
svg.timeline .bar.paused{fill:#ebe9fe;stroke:var(--pause)}
svg.timeline .over{fill:#fecdca;opacity:.85}
svg.timeline .cap{fill:#101828;font-size:11px;pointer-events:none}
svg.timeline .take{fill:var(--bad);stroke:#fff;stroke-width:1}
svg.timeline .tok{fill:var(--bad);font-size:11px;font-weight:700}
svg.timeline .tick{stroke:#344054;stroke-width:2}
svg.timeline a:focus{outline:none}svg.timeline a:focus rect,svg.timeline a:focus path{
stroke:var(--acc);stroke-width:3}
.legend{font-size:.85em}.key{display:inline-block;width:1.4em;height:.8em;border-radius:2px;
vertical-align:middle;border:1px solid}
.key.active{background:#d1fadf;border-color:var(--ok)}
.key.paused{background:#ebe9fe;border-color:var(--pause)}
.key.over{background:#fecdca;border-color:#fecdca}
.key.take{background:var(--bad);border-color:var(--bad);width:.8em;transform:rotate(45deg)}
.key.tick{background:#344054;border-color:#344054;width:2px}
nav.windows{margin:0 0 1em}nav.windows a{margin:0 .3em}
nav.windows a[aria-current]{font-weight:700;color:var(--fg)}
@media (max-width:1100px){
.board{display:flex;flex-direction:column}.col{display:contents}
#attention{order:1}#agents{order:2}#active{order:3}#finished{order:4}#latest{order:5}}
@media (max-width:720px){
header{padding:.5em .8em}main{padding:.6em .5em}section{padding:.6em .6em}
table.cards thead{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);
white-space:nowrap}
table.cards,table.cards tbody,table.cards tr,table.cards td{display:block;width:100%}
table.cards tr{border:1px solid var(--line);border-radius:6px;margin-bottom:.6em;
padding:.3em .4em}
table.cards td{border:0;padding:.12em .2em;overflow-wrap:anywhere}
table.cards td:empty{display:none}
table.cards td::before{content:attr(data-label);display:inline-block;width:7em;
font-size:.75em;text-transform:uppercase;letter-spacing:.04em;color:var(--mute)}
}
"""

JS = """
(function(){
var K='repobus-token';
var u=new URL(location.href),t=u.searchParams.get('token');
if(t!==null){sessionStorage.setItem(K,t);u.searchParams.delete('token');
history.replaceState(null,'',u.pathname+u.search+u.hash);}
var box=document.getElementById('token-box');
if(box){box.value=sessionStorage.getItem(K)||'';
box.addEventListener('input',function(){sessionStorage.setItem(K,box.value.trim());});}
document.addEventListener('submit',function(e){
var f=e.target,q=f.getAttribute('data-confirm');
if(q){if(!window.confirm(q)){e.preventDefault();return;}
var c=f.querySelector('input[name=confirm]');
if(!c){c=document.createElement('input');c.type='hidden';c.name='confirm';f.appendChild(c);}
c.value='yes';}
var i=f.querySelector('input[name=token]');if(i)i.value=sessionStorage.getItem(K)||'';
},true);
var dot=document.getElementById('live-state'),live=document.getElementById('live');
if(!dot||!window.EventSource)return;
var beat=5000,last=0,open=false,ever=false,dirty=0,changed=0,busy=false,pending=false;
var composing=false,es=null;
function show(text,on){if(dot.textContent!==text)dot.textContent=text;
dot.className=on?'on':'off';dot.dataset.state=on?'live':(ever?'down':'connecting');}
function tick(){var now=Date.now(),limit=beat+3000,quiet=now-last,lag=dirty?now-dirty:0;
if(!open){show(ever?'\\u25cb reconnecting\\u2026':'\\u25cb connecting\\u2026',false);return;}
if(quiet>limit||lag>limit){var n=Math.round(Math.max(quiet,lag)/1000);
show('\\u25cb stale (no update in '+n+'s)',false);dot.dataset.state='stale';return;}
show('\\u25cf live',true);}
function heard(){last=Date.now();open=true;ever=true;tick();}
function fields(){return live.querySelectorAll('input:not([type=hidden]),textarea,select');}
function key(x){var f=x.form,t=f&&f.querySelector('input[name=task]');
return (f?f.getAttribute('action'):'')+'|'+(t?t.value:'')+'|'+(x.name||x.id||'');}
function kept(){var out={},xs=fields();
for(var i=0;i<xs.length;i++){var x=xs[i],o=x.options&&x.options[x.selectedIndex];
var typed=x.tagName==='SELECT'?!(o&&o.defaultSelected):x.value!==x.defaultValue;
var focus=x===document.activeElement;if(!typed&&!focus)continue;
var s={v:x.value,f:focus,a:null,b:null,d:null};
try{s.a=x.selectionStart;s.b=x.selectionEnd;s.d=x.selectionDirection;}catch(_){}
out[key(x)]=s;}return out;}
function restore(saved){var xs=fields();
for(var i=0;i<xs.length;i++){var x=xs[i],s=saved[key(x)];if(!s)continue;x.value=s.v;
if(s.f){x.focus({preventScroll:true});
try{if(s.a!==null)x.setSelectionRange(s.a,s.b,s.d||'none');}catch(_){}}}}
function refresh(){if(!live)return;
if(busy||composing){pending=true;return;}busy=true;pending=false;var started=Date.now();
fetch(live.dataset.part,{headers:{'Accept':'text/html'},credentials:'same-origin'})
.then(function(r){return r.ok?r.text():null;}).then(function(html){
if(html===null)return;if(composing){pending=true;return;}
var saved=kept();live.innerHTML=html;restore(saved);
live.dataset.updated=String(Date.now());dirty=changed>started?changed:0;
}).catch(function(){}).then(function(){busy=false;if(pending)setTimeout(refresh,100);tick();});}
document.addEventListener('compositionstart',function(){composing=true;});
document.addEventListener('compositionend',function(){composing=false;if(pending)refresh();});
function connect(){es=new EventSource('/sse');
es.onopen=heard;
es.onerror=function(){open=false;tick();
if(es.readyState===2)setTimeout(connect,3000);};
es.addEventListener('hello',function(m){
try{beat=(JSON.parse(m.data).heartbeat*1000)||beat;}catch(_){}heard();});
es.addEventListener('beat',heard);
es.addEventListener('change',function(){heard();if(!live)return;
changed=Date.now();if(!dirty)dirty=changed;refresh();});}
connect();tick();
setInterval(tick,1000);
setInterval(function(){if(pending)refresh();},2000);
setInterval(refresh,30000);
})();
"""
