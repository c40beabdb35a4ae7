"""The dashboard's only CSS and JavaScript, inlined into every page (nothing is fetched from
the internet).

The script: keeps the write token (from `?token=` or the token box) in sessionStorage and puts
it into each form as it is submitted; listens to `/sse` and, on each change, fetches the page's
live part (`#live[data-part]`) and swaps it in, unless the person is typing into it.
"""

CSS = """
:root{--fg:#1d2330;--mute:#667085;--line:#e3e6ec;--bg:#f7f8fa;--card:#fff;--ok:#157f3b;
--warn:#b54708;--bad:#b42318;--pause:#5b5bd6;--acc:#175cd3}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);
background:var(--bg)}
header{display:flex;gap:1.2em;align-items:center;flex-wrap:wrap;padding:.6em 1.2em;
background:#111827;color:#f3f4f6}
header a{color:#c7d2fe;text-decoration:none;margin-right:.9em}header a.here{color:#fff;
font-weight:600;border-bottom:2px solid #818cf8}
header .brand{font-weight:700;letter-spacing:.02em}
header input{font:inherit;padding:.15em .4em;border-radius:4px;border:1px solid #4b5563;
background:#1f2937;color:#f9fafb;width:14em}
#live-state{margin-left:auto;font-size:.85em}#live-state.on{color:#86efac}
#live-state.off{color:#fca5a5}
main{padding:1em 1.2em;max-width:1300px}
section{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:.7em 1em;
margin-bottom:1em}
h1{font-size:1.3em;margin:.2em 0 .6em}h2{font-size:1.05em;margin:.1em 0 .5em}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:.3em .5em;border-bottom:1px solid var(--line);vertical-align:top}
th{font-size:.8em;text-transform:uppercase;letter-spacing:.04em;color:var(--mute)}
td.num{font-variant-numeric:tabular-nums}
.mute{color:var(--mute)}.empty{color:var(--mute);font-style:italic}
.tag{display:inline-block;padding:0 .45em;border-radius:9px;font-size:.78em;font-weight:600;
border:1px solid currentColor;margin-right:.3em;white-space:nowrap}
.tag.active{color:var(--ok)}.tag.paused{color:var(--pause)}.tag.expired,.tag.refused{color:var(--bad)}
.tag.stale{color:var(--warn)}.tag.done,.tag.released{color:var(--mute)}
.tag.takeover{color:var(--bad)}
tr.expired td{background:#fef3f2}tr.stale td{background:#fffaeb}tr.paused td{background:#f4f3ff}
tr.takeover td{background:#fef3f2}
pre{background:#0f172a;color:#e2e8f0;padding:.8em;border-radius:6px;overflow:auto;
white-space:pre-wrap;max-height:40em}
form.act{display:inline-flex;gap:.3em;margin:.1em .4em .1em 0}
form input,form select,form button{font:inherit;padding:.15em .4em}
form.filters{display:flex;gap:.6em;flex-wrap:wrap;align-items:end}
form.filters label{display:flex;flex-direction:column;font-size:.8em;color:var(--mute)}
.flash{padding:.5em .8em;border-radius:6px;margin-bottom:1em;background:#ecfdf3;
border:1px solid #abefc6}.flash.error{background:#fef3f2;border-color:#fecdca}
a{color:var(--acc)}
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
var i=e.target.querySelector('input[name=token]');if(i)i.value=sessionStorage.getItem(K)||'';
},true);
var live=document.getElementById('live'),dot=document.getElementById('live-state');
if(!live||!window.EventSource)return;
var busy=false,pending=false;
function editing(){var xs=live.querySelectorAll('input:not([type=hidden]),textarea');
for(var i=0;i<xs.length;i++){if(xs[i]===document.activeElement||xs[i].value)return true;}
return false;}
function refresh(){
if(busy||editing()){pending=true;return;}busy=true;pending=false;
fetch(live.dataset.part,{headers:{'Accept':'text/html'}}).then(function(r){
return r.ok?r.text():null;}).then(function(html){
if(html!==null){live.innerHTML=html;live.dataset.updated=String(Date.now());}
}).catch(function(){}).then(function(){busy=false;if(pending)setTimeout(refresh,150);});}
var es=new EventSource('/sse');
es.addEventListener('change',refresh);
es.onopen=function(){dot.textContent='\\u25cf live';dot.className='on';};
es.onerror=function(){dot.textContent='\\u25cb reconnecting';dot.className='off';};
setInterval(function(){if(pending)refresh();},2000);
setInterval(refresh,30000);
})();
"""
