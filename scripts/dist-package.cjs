// dist/ holds CommonJS (tsconfig.json: "module": "commonjs") inside a
// "type": "module" package, so it gets its own package.json saying so.
// Run by `npm run build:ts` after tsc.
const fs = require('node:fs');
const path = require('node:path');
const file = path.join(__dirname, '..', 'dist', 'package.json');
fs.writeFileSync(file, JSON.stringify({ type: 'commonjs' }, null, 2) + '\n');
