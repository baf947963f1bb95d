// Writes "<ieee754 hex> <ECMAScript String(x)>" lines for JCS number tests.
const crypto = require('crypto');
const buf = Buffer.alloc(8);
const out = [];
function emit(x) { buf.writeDoubleBE(x); if (isFinite(x)) out.push(buf.toString('hex') + ' ' + String(x)); }
let seed = 0x9e3779b97f4a7c15n;
function rnd64() { seed ^= seed << 13n; seed &= (1n<<64n)-1n; seed ^= seed >> 7n; seed ^= seed << 17n; seed &= (1n<<64n)-1n; return seed; }
for (let i = 0; i < 3000; i++) { const b = rnd64(); buf.writeBigUInt64BE(b); emit(buf.readDoubleBE()); }
for (let i = 0; i < 1000; i++) { emit(Number(rnd64() % 100000000000000000000000n) / Math.pow(10, Number(rnd64() % 40n))); }
for (let e = -330; e <= 310; e++) { emit(Math.pow(10, e)); emit(1.5 * Math.pow(10, e)); emit(-7.25 * Math.pow(10, e)); }
for (const x of [0, -0, 5e-324, -5e-324, Number.MAX_VALUE, -Number.MAX_VALUE, 9007199254740992, 9007199254740993, 1e21, 1e-6, 1e-7, 123456789012345680000, 0.1, 0.2, 0.30000000000000004]) emit(x);
process.stdout.write(out.join('\n') + '\n');
