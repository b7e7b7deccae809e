/** The policy engine's public surface: schema, sources, compiler and plan types. Pure; imports no backend. */
export * from './schema';
export * from './plan';
export * from './sources';
export {
  compilePlan,
  parsePolicy,
  resolvePolicy,
  isProtected,
  type CompileContext,
  type ResolvedPolicy,
} from './compile';
export type { PlanFacts } from './compile-win32';
export { normalizeAbsolute, isWithin, pathKey, type FsView } from './paths';
