/**
 * Runs the Windows runner directly from the compiled tree (out/src/runner/windows/entry.js), for tests and for
 * runs without the bundle. The bundle's dist/runner.js dispatches to the same code from src/runner/main.ts.
 */
import { runWindowsRunner } from './main';

runWindowsRunner();
