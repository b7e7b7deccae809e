/** Runner entry: replaced by the Linux/Windows backends. */
process.stderr.write('agent-sandbox runner: not implemented\n');
process.exitCode = 125;
