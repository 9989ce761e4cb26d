// tsc compiles the TypeScript; the icons are copied next to the compiled nodes, where the
// nodes' `icon: 'file:wagate.svg'` looks for them.
const fs = require('fs');
const path = require('path');

for (const dir of ['nodes/Wagate', 'credentials']) {
  const target = path.join('dist', dir);
  fs.mkdirSync(target, { recursive: true });
  for (const name of fs.readdirSync(dir)) {
    if (name.endsWith('.svg') || name.endsWith('.png')) {
      fs.copyFileSync(path.join(dir, name), path.join(target, name));
    }
  }
}
