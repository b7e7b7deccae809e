/** Extension entry point. Activation is cheap: backends and koffi load on first use. */
import type * as vscode from 'vscode';

export function activate(_context: vscode.ExtensionContext): void {}

export function deactivate(): void {}
