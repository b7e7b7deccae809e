// Unit: the command palette on Windows offers titles that say what the command does there and that it needs an
// administrator ("Set Up Windows Sandbox (requires administrator)", "Remove Windows Sandbox") and hides the generic Set Up / Remove there, while Linux keeps the generic ones; and
// package.json's commands are exactly the ids the extension registers (src/vscode/ids.ts); the status-bar menu
// offers, per platform, exactly the commands the palette shows there, under the same titles.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command } from '../../src/vscode/ids';
import { menuItems } from '../../src/vscode/menu';

const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '../../../package.json'), 'utf8')) as {
  contributes: {
    commands: { command: string; title: string; category: string }[];
    menus?: { commandPalette?: { command: string; when?: string }[] };
  };
};
const palette = pkg.contributes.menus?.commandPalette ?? [];
const whenOf = (id: string) => palette.find((m) => m.command === id)?.when;
const titleOf = (id: string) => pkg.contributes.commands.find((c) => c.command === id)?.title;

test('package.json contributes exactly the command ids the extension registers', () => {
  assert.deepEqual(pkg.contributes.commands.map((c) => c.command).sort(), Object.values(Command).sort());
});

test('Windows palette: "Set Up Windows Sandbox (requires administrator)" and "Remove Windows Sandbox", shown only on Windows', () => {
  assert.equal(titleOf(Command.SetUpWindows), 'Set Up Windows Sandbox (requires administrator)');
  assert.equal(titleOf(Command.RemoveWindows), 'Remove Windows Sandbox');
  assert.equal(whenOf(Command.SetUpWindows), 'isWindows');
  assert.equal(whenOf(Command.RemoveWindows), 'isWindows');
});

test('the generic Set Up and Remove stay in the palette everywhere but Windows', () => {
  assert.equal(titleOf(Command.SetUp), 'Set Up');
  assert.equal(titleOf(Command.Remove), 'Remove');
  assert.equal(whenOf(Command.SetUp), '!isWindows');
  assert.equal(whenOf(Command.Remove), '!isWindows');
  const hidden = palette
    .filter((m) => m.when !== undefined)
    .map((m) => m.command)
    .sort();
  assert.deepEqual(
    hidden,
    [Command.Remove, Command.RemoveWindows, Command.RemoveWorkspace, Command.SetUp, Command.SetUpWindows].sort(),
    'no other command is hidden',
  );
});

test('"Remove Sandbox Permissions From This Workspace" is offered on Windows only', () => {
  assert.equal(titleOf(Command.RemoveWorkspace), 'Remove Sandbox Permissions From This Workspace');
  assert.equal(whenOf(Command.RemoveWorkspace), 'isWindows');
});

for (const [platform, palettePlatform] of [
  ['win32', 'isWindows'],
  ['linux', '!isWindows'],
] as const) {
  test(`status-bar menu on ${platform}: only commands the palette shows there, each labelled with its palette title`, () => {
    const items = menuItems(platform);
    for (const item of items) {
      const when = whenOf(item.id);
      assert.ok(when === undefined || when === palettePlatform, `${item.id} is hidden on ${platform} (${when})`);
      assert.equal(item.label.replace(/^\$\([\w-]+\) /, ''), titleOf(item.id), item.id);
    }
    const ids = items.map((i) => i.id);
    if (platform === 'win32') {
      assert.ok(
        ids.includes(Command.SetUpWindows) &&
          ids.includes(Command.RemoveWindows) &&
          ids.includes(Command.RemoveWorkspace),
      );
    } else {
      assert.ok(ids.includes(Command.SetUp) && ids.includes(Command.Remove) && !ids.includes(Command.RemoveWorkspace));
    }
  });
}
