// Scope: the one cleanup path of each launch. Releases newest first, every release attempted when one throws,
// nothing released after keep(), and closers and disposables both accepted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Scope } from '../../src/scope';

function owners(log: string[]) {
  return {
    closer: (name: string) => ({ close: () => void log.push(name) }),
    disposable: (name: string) => ({ [Symbol.dispose]: () => void log.push(name) }),
  };
}

test('a scope that unwinds releases everything it was given, newest first', () => {
  const log: string[] = [];
  const { closer, disposable } = owners(log);
  assert.throws(() => {
    using scope = new Scope();
    scope.use(closer('token'));
    scope.use(disposable('job'));
    scope.use(undefined);
    scope.defer(() => log.push('socket'));
    throw new Error('CreateProcessAsUserW failed');
  }, /CreateProcessAsUserW failed/);
  assert.deepEqual(log, ['socket', 'job', 'token']);
});

test('keep() hands everything to the caller: nothing registered before it is released', () => {
  const log: string[] = [];
  const { closer } = owners(log);
  (() => {
    using scope = new Scope();
    scope.use(closer('job'));
    scope.keep();
    scope.use(closer('after-keep'));
  })();
  assert.deepEqual(log, ['after-keep'], 'control: what is registered after keep() is still released');
});

test('a release that throws does not stop the others, and its error surfaces', () => {
  const log: string[] = [];
  const scope = new Scope();
  scope.defer(() => log.push('first'));
  scope.defer(() => {
    throw new Error('CloseHandle failed');
  });
  scope.defer(() => log.push('last'));
  assert.throws(() => scope[Symbol.dispose](), /CloseHandle failed/);
  assert.deepEqual(log, ['last', 'first']);
  scope[Symbol.dispose]();
  assert.deepEqual(log, ['last', 'first'], 'disposing twice releases nothing twice');
});
