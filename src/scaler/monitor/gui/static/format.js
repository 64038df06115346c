// Short human forms of numbers, shared by the tables and the charts (the same rules as scaler_top's).
"use strict";

const fmt = {
  size(n) {
    if (n === null || n === undefined || n < 0) return "–";
    const units = ["B", "K", "M", "G", "T", "P"];
    let value = n;
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
    if (unit === 0) return `${Math.round(value)}B`;
    return (value < 100 ? value.toPrecision(3) : Math.round(value).toString()) + units[unit];
  },
  count(n) { return n === null || n === undefined ? "–" : n.toLocaleString("en-US"); },
  percent(p) { return `${p < 100 ? p.toFixed(1) : Math.round(p)}%`; },
  duration(s) {
    if (s === null || s === undefined || s < 0) return "–";
    if (s < 1) return `${Math.round(s * 1000)}ms`;
    if (s < 60) return `${s.toFixed(1)}s`;
    const whole = Math.floor(s);
    const two = (x) => String(x).padStart(2, "0");
    if (whole < 3600) return `${Math.floor(whole / 60)}m${two(whole % 60)}s`;
    if (whole < 86400) return `${Math.floor(whole / 3600)}h${two(Math.floor((whole % 3600) / 60))}m`;
    return `${Math.floor(whole / 86400)}d${two(Math.floor((whole % 86400) / 3600))}h`;
  },
  age(s) { return s < 1 ? "now" : fmt.duration(s); },
  clock(t) {
    const date = new Date(t * 1000);
    return date.toLocaleTimeString("en-GB", { hour12: false }) + "." + String(date.getMilliseconds()).padStart(3, "0");
  },
  clockShort(t) { return new Date(t * 1000).toLocaleTimeString("en-GB", { hour12: false }); },
  worker(id) { return id.startsWith("Worker|") ? id.slice(7) : id; },
  capabilities(caps) {
    const keys = Object.keys(caps || {});
    return keys.length ? keys.map((k) => (caps[k] === -1 ? k : `${k}=${caps[k]}`)).join(", ") : "–";
  },
  // Text goes into innerHTML only through this: ids and function names come from users.
  esc(text) {
    return String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  },
};
