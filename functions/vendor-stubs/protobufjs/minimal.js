// Stand-in for ccxt's optional peer dependency `protobufjs` (used only by its dYdX and MEXC code, never by
// the exchanges this engine trades on). esbuild aliases `protobufjs` to this folder (lib/handler-function.ts) when bundling a Lambda
// handler; any use throws, naming the missing package.
const missing = new Proxy(
  {},
  {
    get(_target, key) {
      if (key === '__esModule' || key === 'then' || typeof key === 'symbol') return undefined;
      throw new Error(`protobufjs is not bundled (ccxt optional dependency); tried to read "${String(key)}"`);
    },
  },
);
export default missing;
