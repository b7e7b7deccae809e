/**
 * Bundle entry of the Linux runner (dist/runner-linux.js), loaded by the dispatcher in dist/runner.js. The same
 * bundle is the code of the worker threads that start isolated brokered commands (see isolate.ts).
 */
import { isMainThread } from 'node:worker_threads';
import { runLinuxRunner } from './main';
import './isolate';

if (isMainThread) runLinuxRunner();
