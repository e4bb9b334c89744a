/**
 * The Kubernetes manifests, rendered with `kubectl kustomize` (offline; no cluster runs here), checked for the
 * invariants a cluster would otherwise find out about too late: limits, probes and security contexts on every
 * container, labels and selectors that match, and grace periods that cover a drain.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';

const ROOT = join(__dirname, '../../deploy/kubernetes');
const RENDERED = ['base', 'overlays/production', 'overlays/gvisor', 'prometheus-adapter'];

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Obj = any;

function render(dir: string): Obj[] {
  const text = execFileSync('kubectl', ['kustomize', join(ROOT, dir)], { encoding: 'utf8' });
  return parseAllDocuments(text).map((doc) => doc.toJS() as Obj);
}

const matches = (selector: Record<string, string>, labels: Record<string, string>) =>
  Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels[k] === v);

describe.each(RENDERED)('kubectl kustomize %s', (dir) => {
  const objects = render(dir);
  const deployments = objects.filter((o) => o.kind === 'Deployment');
  const configMaps = objects.filter((o) => o.kind === 'ConfigMap');

  it('renders', () => {
    expect(objects.length).toBeGreaterThan(0);
    for (const o of objects)
      expect(o).toMatchObject({ apiVersion: expect.any(String), kind: expect.any(String), metadata: { name: expect.any(String) } });
  });

  it('every container has requests and limits, a security context, and the probes its kind can have', () => {
    for (const d of deployments) {
      const pod = d.spec.template.spec;
      const sidecars = (pod.initContainers ?? []).filter((c: Obj) => c.restartPolicy === 'Always');
      const oneShots = (pod.initContainers ?? []).filter((c: Obj) => c.restartPolicy !== 'Always');
      for (const c of [...pod.containers, ...pod.initContainers]) {
        expect({ name: c.name, requests: c.resources?.requests, limits: c.resources?.limits }).toEqual({
          name: c.name,
          requests: { cpu: expect.anything(), memory: expect.anything() },
          limits: { cpu: expect.anything(), memory: expect.anything() },
        });
        expect({ name: c.name, securityContext: typeof c.securityContext }).toEqual({ name: c.name, securityContext: 'object' });
        expect(c.image).not.toMatch(/^[^:]+$/);
      }
      for (const c of pod.containers) {
        expect({ name: c.name, probes: [!!c.startupProbe, !!c.readinessProbe, !!c.livenessProbe] }).toEqual({
          name: c.name,
          probes: [true, true, true],
        });
      }
      for (const c of sidecars)
        expect({ name: c.name, probes: [!!c.startupProbe, !!c.livenessProbe] }).toEqual({ name: c.name, probes: [true, true] });
      for (const c of oneShots) expect(c.livenessProbe ?? c.readinessProbe).toBeUndefined();
    }
  });

  it('only the engine is privileged (under gVisor, in gVisor only); everything else runs as non-root with a read-only root and no capabilities', () => {
    for (const d of deployments) {
      const pod = d.spec.template.spec;
      expect(pod.automountServiceAccountToken).toBe(false);
      for (const c of [...pod.containers, ...pod.initContainers]) {
        if (c.name === 'engine') {
          if (pod.runtimeClassName === undefined) expect(c.securityContext.privileged).toBe(true);
          else expect(c.securityContext).toEqual({ privileged: false, capabilities: { add: ['ALL'] } });
          // Its socket is a file in a shared volume, never a port.
          expect(c.args).toContain('--host=unix:///var/run/dind/docker.sock');
          expect(c.args).toEqual(expect.arrayContaining(['--bridge=none', '--iptables=false']));
          expect(c.ports).toBeUndefined();
          continue;
        }
        expect({ name: c.name, ...c.securityContext }).toMatchObject({
          name: c.name,
          runAsNonRoot: true,
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          capabilities: { drop: ['ALL'] },
        });
        expect(c.securityContext.privileged).toBeFalsy();
      }
    }
  });

  it('labels and selectors match: Deployment, Service, PodDisruptionBudget, NetworkPolicy, HPA', () => {
    for (const d of deployments) {
      const labels = d.spec.template.metadata.labels;
      expect(matches(d.spec.selector.matchLabels, labels)).toBe(true);
      for (const s of objects.filter((o) => o.kind === 'Service')) expect(matches(s.spec.selector, labels)).toBe(true);
      for (const p of objects.filter((o) => o.kind === 'PodDisruptionBudget'))
        expect(matches(p.spec.selector.matchLabels, labels)).toBe(true);
      for (const n of objects.filter((o) => o.kind === 'NetworkPolicy')) expect(matches(n.spec.podSelector.matchLabels, labels)).toBe(true);
      for (const h of objects.filter((o) => o.kind === 'HorizontalPodAutoscaler')) {
        expect(h.spec.scaleTargetRef).toMatchObject({ kind: 'Deployment', name: d.metadata.name });
        expect(h.spec.minReplicas).toBeGreaterThanOrEqual(2);
      }
      // The Service's target port is the container's named port.
      const ports = d.spec.template.spec.containers.flatMap((c: Obj) => (c.ports ?? []).map((p: Obj) => p.name));
      for (const s of objects.filter((o) => o.kind === 'Service')) for (const p of s.spec.ports) expect(ports).toContain(p.targetPort);
    }
  });

  it('the grace period covers the preStop pause, RUNBOX_SHUTDOWN_GRACE_MS and removing the last containers', () => {
    for (const d of deployments) {
      const pod = d.spec.template.spec;
      const server = pod.containers.find((c: Obj) => c.name === 'runbox');
      const configName = server.envFrom.find((e: Obj) => e.configMapRef).configMapRef.name;
      const config = configMaps.find((c) => c.metadata.name === configName);
      expect(config).toBeDefined();
      const graceS = Number(config.data.RUNBOX_SHUTDOWN_GRACE_MS) / 1000;
      const preStopS = Number(server.lifecycle.preStop.exec.command[1]);
      expect(server.lifecycle.preStop.exec.command[0]).toBe('sleep');
      expect(pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(preStopS + graceS + 5);
      // Probes that would kill a draining pod faster than it drains are a contradiction.
      expect(server.livenessProbe.httpGet.path).toBe('/health');
      expect(server.readinessProbe.httpGet.path).toBe('/ready');
    }
  });

  it('the HPA reads the metrics the adapter rules define, with a CPU fallback', () => {
    for (const h of objects.filter((o) => o.kind === 'HorizontalPodAutoscaler')) {
      const names = h.spec.metrics.map((m: Obj) => m.pods?.metric.name ?? m.resource?.name);
      expect(names).toEqual(['runbox_queue_depth', 'runbox_runs_in_flight', 'cpu']);
    }
    for (const c of configMaps.filter((m) => m.metadata.name === 'prometheus-adapter-runbox')) {
      const rules = parseAllDocuments(c.data['config.yaml'])[0].toJS().rules as Obj[];
      expect(rules.map((r) => r.name.as)).toEqual(['runbox_queue_depth', 'runbox_runs_in_flight']);
      expect(c.metadata.namespace).toBe('monitoring');
    }
  });
});

it('production pins the server image, and replicas share one PostgreSQL', () => {
  const deployment = render('overlays/production').find((o) => o.kind === 'Deployment');
  const server = deployment.spec.template.spec.containers.find((c: Obj) => c.name === 'runbox');
  expect(server.image).toBe('runbox-server:0.1.0');
  expect(deployment.spec.replicas).toBe(3);
  expect(server.env.map((e: Obj) => e.name)).toEqual(
    expect.arrayContaining(['RUNBOX_DATABASE_URL', 'RUNBOX_INSTANCE_ID', 'RUNBOX_API_KEY']),
  );
  expect(server.env.find((e: Obj) => e.name === 'RUNBOX_INSTANCE_ID').valueFrom.fieldRef.fieldPath).toBe('metadata.name');
});

it('the gVisor overlay runs every pod under a RuntimeClass it defines, with runsc as its handler, and nothing privileged on the node', () => {
  const objects = render('overlays/gvisor');
  const runtimeClasses = objects.filter((o) => o.kind === 'RuntimeClass');
  expect(runtimeClasses).toHaveLength(1);
  expect(runtimeClasses[0]).toMatchObject({ handler: 'runsc', scheduling: { nodeSelector: expect.any(Object) } });
  expect(runtimeClasses[0].metadata.namespace).toBeUndefined(); // cluster-scoped
  const deployment = objects.find((o) => o.kind === 'Deployment');
  const pod = deployment.spec.template.spec;
  expect(pod.runtimeClassName).toBe(runtimeClasses[0].metadata.name);
  for (const c of [...pod.containers, ...pod.initContainers]) expect(c.securityContext.privileged).toBeFalsy();
  // Everything else is production's.
  const production = render('overlays/production').find((o) => o.kind === 'Deployment');
  expect(deployment.spec.replicas).toBe(production.spec.replicas);
  expect(pod.containers).toEqual(production.spec.template.spec.containers);
});
