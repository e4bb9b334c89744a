/**
 * The import structure of src/, checked by `npm run lint` (dependency-cruiser): no import cycles, type-only
 * imports included, and no import up the layers. Layers, top to bottom; a module may import its own layer
 * and any layer below it, never one above:
 *
 *   entry       src/main.ts, src/cli/, src/app.ts, src/service.ts    the programs, wiring and lifecycle
 *   doors       src/http/, src/compat/, src/mcp/, src/client/        transports: the routes, the other
 *                                                                     runners' contracts, MCP, the HTTP client
 *   runs        src/runs/                                            the run service, free of any transport
 *   api         src/api/                                             the contract: request schema, response
 *                                                                     shape, tool definition, OpenAPI document
 *   components  src/sandbox/, src/quotas/, src/audit/, src/packages/, src/keys/, src/metrics/, src/provision/
 *   bottom      src/docker/, src/store/                              the engine and the store
 *
 * and the shared leaves src/config.ts, src/errors.ts, src/log.ts, src/version.ts, which any module may
 * import and which import nothing of src/ but each other. A module outside every layer is an error too, so
 * a new folder gets its place here.
 *
 * Paths are relative to where the cruise runs: the repository root for `npm run lint`, the fixture folder
 * for test/unit/layering.test.ts, which shows these rules failing.
 */
const LAYERS = [
  { name: 'entry', path: ['^src/main\\.ts$', '^src/app\\.ts$', '^src/service\\.ts$', '^src/cli/'] },
  { name: 'doors', path: ['^src/(http|compat|mcp|client)/'] },
  { name: 'runs', path: ['^src/runs/'] },
  { name: 'api', path: ['^src/api/'] },
  { name: 'components', path: ['^src/(sandbox|quotas|audit|packages|keys|metrics|provision)/'] },
  { name: 'bottom', path: ['^src/(docker|store)/'] },
];
const SHARED = ['^src/(config|errors|log|version)\\.ts$'];
const PLACED = [...LAYERS.flatMap((layer) => layer.path), ...SHARED];

module.exports = {
  forbidden: [
    {
      name: 'no-cycle',
      severity: 'error',
      comment: 'An import cycle, type-only imports included: one of its modules must give up its import.',
      from: {},
      to: { circular: true },
    },
    ...LAYERS.slice(1).map((layer, i) => ({
      name: `no-upward-from-${layer.name}`,
      severity: 'error',
      comment: `${layer.name} imports a layer above it (${LAYERS.slice(0, i + 1)
        .map((above) => above.name)
        .join(', ')}): move what it needs down, or take it as a parameter.`,
      from: { path: layer.path },
      to: { path: LAYERS.slice(0, i + 1).flatMap((above) => above.path) },
    })),
    {
      name: 'store-through-its-interface',
      severity: 'error',
      comment:
        'Outside src/store/, the store is its interface (src/store/store.ts); only the entry points open one (src/store/open.ts).',
      from: { pathNot: [...LAYERS[0].path, '^src/store/'] },
      to: { path: '^src/store/', pathNot: '^src/store/store\\.ts$' },
    },
    {
      name: 'shared-leaves-import-no-layer',
      severity: 'error',
      comment: 'config, errors, log and version are shared leaves: they import nothing of src/ but each other.',
      from: { path: SHARED },
      to: { path: '^src/', pathNot: SHARED },
    },
    {
      name: 'in-a-layer',
      severity: 'error',
      comment: 'A module in no layer: give its folder a place in .dependency-cruiser.cjs (and the README).',
      from: { path: '^src/', pathNot: PLACED },
      to: {},
    },
    {
      name: 'to-a-layer',
      severity: 'error',
      comment: 'An import of a module in no layer: give its folder a place in .dependency-cruiser.cjs (and the README).',
      from: {},
      to: { path: '^src/', pathNot: PLACED },
    },
    {
      name: 'resolvable',
      severity: 'error',
      comment: 'An import that resolves to no file.',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    // Type-only imports are dependencies too (they make cycles and couple layers as much as value imports).
    tsPreCompilationDeps: true,
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)node_modules/' },
    moduleSystems: ['cjs', 'es6'],
    // Packages' subpath exports (@modelcontextprotocol/sdk/types.js), resolved as Node and TypeScript do.
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['require', 'node', 'default', 'types'] },
  },
};
