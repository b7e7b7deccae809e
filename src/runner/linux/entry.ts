/** Bundle entry of the Linux runner (dist/runner-linux.js), loaded by the dispatcher in dist/runner.js. */
import { runLinuxRunner } from './main';

runLinuxRunner();
