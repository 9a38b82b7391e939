// A JavaScript runner's realm, put back as it was after a run, so that one worker can serve
// run after run (a new worker per run costs the page a thread and a V8 isolate each time, and
// its code starts cold) while each run still sees a fresh global state. scripts/web puts this
// file before runner.js.
//
// Two parts:
// - guard(): the worker's globals that are not ECMAScript's (Web APIs: fetch, Worker,
//   indexedDB, addEventListener, performance, ...) keep working, but the first touch of one
//   marks the realm `touched`: their state (requests, listeners, storage, other threads) is
//   outside what a reset can put back, so a touched worker is not used again.
// - snapshot() / restore(): every object a run can reach without touching a guarded global (the
//   global object, ECMAScript's intrinsics, the runner's own globals), with its prototype, its
//   extensibility and each own property's descriptor, is recorded once; after a run each is
//   compared and put back (what was added is deleted, what was changed or deleted is defined
//   again). What cannot be put back (a built-in frozen, made non-extensible, or given a
//   non-configurable property) makes restore() answer `false`: that worker is not used again.
'use strict';
const polyrunRealm = (() => {
  const { ownKeys, getOwnPropertyDescriptor, defineProperty, deleteProperty, getPrototypeOf, setPrototypeOf, isExtensible } = Reflect;
  const { freeze } = Object;
  const same = Object.is;
  const NativeSet = Set;
  const setHas = Set.prototype.has;
  const setAdd = Set.prototype.add;
  const regexpExec = RegExp.prototype.exec;
  const apply = Reflect.apply;
  const hasOwn = Object.hasOwn;
  const ObjectPrototype = Object.prototype;

  /**
   * ECMAScript's global names (ECMA-262's global object, ECMA-402's Intl, Temporal) that a run
   * may use freely: their state is in their objects, which a reset puts back. Not here, so
   * guarded: FinalizationRegistry (its callbacks come later, in another run) and Atomics
   * (`waitAsync` resolves later).
   */
  const ECMASCRIPT = new NativeSet([
    'globalThis', 'Infinity', 'NaN', 'undefined', 'eval', 'isFinite', 'isNaN', 'parseFloat', 'parseInt',
    'decodeURI', 'decodeURIComponent', 'encodeURI', 'encodeURIComponent', 'escape', 'unescape',
    'AggregateError', 'Array', 'ArrayBuffer', 'BigInt', 'BigInt64Array', 'BigUint64Array', 'Boolean',
    'DataView', 'Date', 'Error', 'EvalError', 'Float16Array', 'Float32Array', 'Float64Array',
    'Function', 'Int8Array', 'Int16Array', 'Int32Array', 'Iterator', 'Map', 'Number', 'Object',
    'Promise', 'Proxy', 'RangeError', 'ReferenceError', 'RegExp', 'Set', 'SharedArrayBuffer',
    'String', 'Symbol', 'SyntaxError', 'TypeError', 'Uint8Array', 'Uint8ClampedArray',
    'Uint16Array', 'Uint32Array', 'URIError', 'WeakMap', 'WeakRef', 'WeakSet', 'JSON', 'Math',
    'Reflect', 'Intl', 'Temporal', 'SuppressedError', 'DisposableStack', 'AsyncDisposableStack',
  ]);

  /**
   * The Web platform's members a run may use freely: without state of their own
   * (`queueMicrotask`'s jobs end with the run, which waits for them), or with it only in their
   * objects, which a reset puts back (TextEncoder, ...; DOMException, which atob and
   * structuredClone throw), and the prototypes' `constructor`s.
   */
  const WEB = new NativeSet([
    'self', 'atob', 'btoa', 'queueMicrotask', 'structuredClone', 'isSecureContext',
    'crossOriginIsolated', 'origin', 'TEMPORARY', 'PERSISTENT', 'TextEncoder', 'TextDecoder',
    'DOMException', 'constructor', Symbol.toStringTag,
  ]);

  let touched = false; // the current run touched a guarded global

  /**
   * Guards the global object's own properties that are neither ECMAScript's, nor in WEB, nor in
   * `keep` (the runner's own globals), and those of its prototypes (the worker's global scope
   * interfaces, EventTarget's methods): each becomes an accessor that marks the realm touched and
   * then does what the property did. Returns `false` when one cannot be guarded (not
   * configurable): then no run may reuse this realm.
   */
  function guard(keep) {
    const kept = new NativeSet(keep);
    let ok = true;
    const objects = [globalThis];
    for (let p = getPrototypeOf(globalThis); p !== null && p !== Object.prototype; p = getPrototypeOf(p)) {
      objects.push(p);
    }
    for (const o of objects) {
      for (const key of ownKeys(o)) {
        if (apply(setHas, ECMASCRIPT, [key]) || apply(setHas, WEB, [key]) || apply(setHas, kept, [key])) continue;
        const d = getOwnPropertyDescriptor(o, key);
        if (!d.configurable) {
          ok = false;
          continue;
        }
        defineProperty(o, key, guarded(d));
      }
    }
    return ok;
  }

  /** The accessors guard() made: frozen, so nothing of theirs needs recording. */
  const tripwires = new WeakSet();
  const weakHas = WeakSet.prototype.has;
  const weakAdd = WeakSet.prototype.add;

  /** The tripwire accessor for a property with descriptor `d`. */
  function guarded(d) {
    const touch = () => {
      touched = true;
    };
    let get;
    let set;
    if (hasOwn(d, 'value')) {
      // A data property (an interface object, a method): read through the getter. A write
      // replaces it (the realm is touched by then: it will not be reused).
      let value = d.value;
      get = function () {
        touch();
        return value;
      };
      set = function (v) {
        touch();
        value = v;
      };
    } else {
      const { get: g, set: s } = d;
      get = function () {
        touch();
        return g === undefined ? undefined : apply(g, this, []);
      };
      set = function (v) {
        touch();
        if (s !== undefined) apply(s, this, [v]);
      };
    }
    for (const f of [get, set]) {
      freeze(f);
      apply(weakAdd, tripwires, [f]);
    }
    return { get, set, enumerable: d.enumerable, configurable: true };
  }

  /** A property descriptor as a prototype-less object with only its own fields. */
  function plain(d) {
    const out = { __proto__: null };
    for (let i = 0; i < FIELDS.length; i++) {
      if (hasOwn(d, FIELDS[i])) out[FIELDS[i]] = d[FIELDS[i]];
    }
    return out;
  }

  /** A property descriptor's fields. */
  const FIELDS = ['value', 'writable', 'get', 'set', 'enumerable', 'configurable'];

  /**
   * Records everything reachable from the global object and from the intrinsics no global
   * names (the iterators' prototypes, the async and generator functions', ...), the guarded
   * globals' accessors aside, before any guest code runs: what restore() takes.
   */
  function snapshot() {
    const records = [];
    const seen = new NativeSet();
    const queue = [];
    const visit = (v) => {
      if (((typeof v === 'object' && v !== null) || typeof v === 'function')
        && !apply(setHas, seen, [v]) && !apply(weakHas, tripwires, [v])) {
        apply(setAdd, seen, [v]);
        queue.push(v);
      }
    };
    visit(globalThis);
    hiddenIntrinsics().forEach(visit);
    for (let i = 0; i < queue.length; i++) {
      const o = queue[i];
      const keys = ownKeys(o);
      const descriptors = [];
      // The recorded keys, to look up (a symbol key goes in as itself).
      const index = { __proto__: null };
      for (const key of keys) {
        const d = plain(getOwnPropertyDescriptor(o, key));
        descriptors.push(d);
        index[key] = true;
        visit(d.value);
        visit(d.get);
        visit(d.set);
      }
      const proto = getPrototypeOf(o);
      visit(proto);
      records.push({ __proto__: null, object: o, proto, extensible: isExtensible(o), keys, descriptors, index });
    }
    return records;
  }

  /** The intrinsics that no property path from the global object reaches. */
  function hiddenIntrinsics() {
    const p = getPrototypeOf;
    const out = [
      p([][Symbol.iterator]()), p(new Map().entries()), p(new Set().values()), p(''[Symbol.iterator]()),
      p(/a/[Symbol.matchAll]('')), p(async () => {}), p(function* () {}), p(async function* () {}),
      p((function* () {})()), p((async function* () {})()), p(p(p((async function* () {})()))),
    ];
    try {
      out.push(p([].values().map((x) => x)), p(Iterator.from({ next() { return { done: true }; } })));
    } catch {
      // no iterator helpers
    }
    try {
      const segments = new Intl.Segmenter().segment('');
      out.push(p(segments), p(segments[Symbol.iterator]()));
    } catch {
      // no Intl.Segmenter
    }
    return out.filter((o) => o !== null && o !== undefined);
  }

  /**
   * Puts every recorded object back as snapshot() found it, using nothing a guest could have
   * replaced. `false` when the realm must not serve another run: a guarded global was touched,
   * or something could not be put back.
   */
  function restore(records) {
    if (touched) return false;
    // A descriptor's missing fields are read through Object.prototype below: first it loses
    // any the run gave it (they were not there when it was recorded).
    for (let i = 0; i < FIELDS.length; i++) {
      if (hasOwn(ObjectPrototype, FIELDS[i]) && !deleteProperty(ObjectPrototype, FIELDS[i])) return false;
    }
    let ok = true;
    for (let i = 0; i < records.length; i++) {
      const r = records[i];
      const o = r.object;
      if (getPrototypeOf(o) !== r.proto && !setPrototypeOf(o, r.proto)) ok = false;
      if (isExtensible(o) !== r.extensible) {
        ok = false;
        continue;
      }
      const now = ownKeys(o);
      const keys = r.keys;
      const wants = r.descriptors;
      // What was added goes (the common case: a run's global variables and functions).
      let j = 0;
      let sameKeys = true;
      for (let k = 0; k < now.length; k++) {
        if (!hasOwn(r.index, now[k])) {
          if (!deleteProperty(o, now[k])) ok = false;
        } else if (now[k] !== keys[j++]) {
          sameKeys = false;
        }
      }
      if (!sameKeys || j !== keys.length) {
        // Recorded properties deleted or reordered: every configurable one goes, and comes back
        // in the recorded order (a fresh realm's order).
        for (let k = 0; k < now.length; k++) {
          const d = getOwnPropertyDescriptor(o, now[k]);
          if (d !== undefined && d.configurable) deleteProperty(o, now[k]);
        }
      }
      for (let k = 0; k < keys.length; k++) {
        const want = wants[k];
        const have = getOwnPropertyDescriptor(o, keys[k]);
        if (have !== undefined && have.get === want.get && have.set === want.set
          && have.writable === want.writable && have.enumerable === want.enumerable
          && have.configurable === want.configurable
          && (have.value === want.value || same(have.value, want.value))) continue;
        if (!defineProperty(o, keys[k], want)) ok = false;
      }
    }
    // RegExp's legacy statics (RegExp.$1, lastMatch, input) keep the last match: a match of
    // nothing clears them.
    apply(regexpExec, /(?:)/, ['']);
    return ok;
  }

  return freeze({
    guard,
    snapshot,
    restore,
    /** `true` once the current run touched a guarded global. */
    get touched() {
      return touched;
    },
    /** Marks the realm as not reusable (what the runner knows a reset cannot undo). */
    touch() {
      touched = true;
    },
  });
})();
