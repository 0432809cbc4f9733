import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { openApiYaml } from '../openapi.ts';

/** `npm run openapi`: regenerates the committed openapi.yaml. */
const target = fileURLToPath(new URL('../../openapi.yaml', import.meta.url));
writeFileSync(target, await openApiYaml());
console.log(`wrote ${target}`);
