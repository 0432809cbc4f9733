import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { openApiYaml } from '../src/openapi.ts';
import { createTestApp, type TestApp } from './helpers/app.ts';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

type Operation = {
  tags?: string[];
  summary?: string;
  requestBody?: { content: Record<string, { schema: unknown }> };
};

describe('openapi.yaml', () => {
  it('is what the code generates (run `npm run openapi` after changing a route)', async () => {
    const committed = readFileSync(new URL('../openapi.yaml', import.meta.url), 'utf8');
    expect(committed).toBe(await openApiYaml());
  });

  it('documents every registered REST route, each with a tag and a summary', () => {
    const doc = parse(readFileSync(new URL('../openapi.yaml', import.meta.url), 'utf8')) as {
      paths: Record<string, Record<string, Operation>>;
      components: { schemas: Record<string, unknown> };
    };
    const routes = t.app.routeList.filter(
      (r) => (r.url.startsWith('/v1/') || r.url.startsWith('/health')) && r.method !== 'HEAD',
    );
    expect(routes.length).toBeGreaterThan(10);
    for (const { method, url } of routes) {
      const path = url.replace(/:(\w+)/g, '{$1}');
      const op = doc.paths[path]?.[method.toLowerCase()];
      expect(op, `${method} ${path} is missing from openapi.yaml`).toBeDefined();
      expect(op!.tags?.length, `${method} ${path} has no tag`).toBeGreaterThan(0);
      expect(op!.summary, `${method} ${path} has no summary`).toBeTruthy();
      const body = op!.requestBody?.content['application/json'];
      if (body) {
        const ref = (body.schema as { $ref?: string }).$ref?.split('/').pop();
        const schema = ref ? doc.components.schemas[ref] : body.schema;
        expect(JSON.stringify(schema), `${method} ${path} has no request example`).toMatch(/"examples?"/);
      }
    }
  });
});
