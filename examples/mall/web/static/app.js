// Harbor Lane Mall storefront: renders /api/products and /api/coupons.
// Every value from the API is set with textContent, never as HTML.
"use strict";

const money = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD" });
const timeAgo = new Intl.RelativeTimeFormat("en", { numeric: "auto" });
const storeIcons = {
  "Northwind Apparel": "👕",
  "Volt Electronics": "🎧",
  "Bean & Leaf": "☕",
  "Summit Sports": "👟",
};

let products = [];
let coupons = [];

async function getJSON(path) {
  const res = await fetch(path, { headers: { Accept: "application/json" } });
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
  const meta = [res.headers.get("X-Instance"), res.headers.get("X-Cache")].filter(Boolean);
  return { body: await res.json(), meta: meta.join(", ") };
}

function slug(s) {
  return s.toLowerCase().replace(/[^a-z0-9]+/g, "-");
}

// bestCoupon returns the largest discount currently offered for a product.
function bestCoupon(productId) {
  return coupons
    .filter((c) => c.product_id === productId)
    .reduce((best, c) => (!best || c.percent_off > best.percent_off ? c : best), null);
}

function renderStores() {
  const root = document.getElementById("stores");
  const nav = document.getElementById("store-nav");
  const tpl = document.getElementById("product-card");
  const byStore = new Map();
  for (const p of products) {
    if (!byStore.has(p.store)) byStore.set(p.store, []);
    byStore.get(p.store).push(p);
  }
  root.replaceChildren();
  nav.replaceChildren();
  for (const [store, items] of byStore) {
    const link = document.createElement("a");
    link.href = `#${slug(store)}`;
    link.textContent = `${storeIcons[store] || "🛍️"} ${store}`;
    nav.append(link);

    const section = document.createElement("section");
    section.className = "store";
    section.id = slug(store);
    const h2 = document.createElement("h2");
    h2.textContent = `${storeIcons[store] || "🛍️"} ${store}`;
    const grid = document.createElement("div");
    grid.className = "grid";
    for (const p of items) {
      const card = tpl.content.firstElementChild.cloneNode(true);
      card.querySelector(".thumb").textContent = storeIcons[p.store] || "🛍️";
      card.querySelector(".name").textContent = p.name;
      const c = bestCoupon(p.id);
      if (c) {
        card.classList.add("on-sale");
        card.querySelector(".now").textContent = money.format((p.price_cents * (100 - c.percent_off)) / 10000);
        card.querySelector(".was").textContent = money.format(p.price_cents / 100);
        const badge = card.querySelector(".badge");
        badge.hidden = false;
        badge.textContent = `${c.percent_off}% off with ${c.code}`;
      } else {
        card.querySelector(".now").textContent = money.format(p.price_cents / 100);
      }
      grid.append(card);
    }
    section.append(h2, grid);
    root.append(section);
  }
  if (!products.length) root.textContent = "The shops are still stocking their shelves.";
}

function renderCoupons() {
  const list = document.getElementById("coupons");
  list.replaceChildren();
  for (const c of coupons) {
    const li = document.createElement("li");
    const code = document.createElement("code");
    code.textContent = c.code;
    const what = document.createElement("span");
    what.className = "what";
    what.textContent = `${c.percent_off}% off ${c.product_name}`;
    const when = document.createElement("time");
    when.dateTime = c.created_at;
    const secs = Math.round((new Date(c.created_at) - Date.now()) / 1000);
    when.textContent = Math.abs(secs) < 60 ? timeAgo.format(secs, "second") : timeAgo.format(Math.round(secs / 60), "minute");
    li.append(code, what, when);
    list.append(li);
  }
  const hero = document.getElementById("hero-deal");
  hero.textContent = coupons.length
    ? `${coupons[0].percent_off}% off ${coupons[0].product_name} at ${coupons[0].store} — code ${coupons[0].code}`
    : "No coupons yet — the first one drops in a few seconds.";
}

function setStatus(text, ok) {
  const el = document.getElementById("status");
  el.textContent = text;
  el.className = ok ? "ok" : "err";
}

async function refresh() {
  try {
    const [p, c] = await Promise.all([getJSON("/api/products"), getJSON("/api/coupons")]);
    products = p.body;
    coupons = c.body;
    renderCoupons();
    renderStores();
    setStatus(`live · products from ${p.meta || "api"} · updated ${new Date().toLocaleTimeString()}`, true);
  } catch (err) {
    setStatus(`the api is not answering (${err.message}); retrying…`, false);
  }
}

refresh();
setInterval(refresh, 5000);
