/**
 * The Kubernetes manifests, rendered with `kubectl kustomize` (offline; no cluster runs here), checked for the
 * invariants a cluster would otherwise find out about too late: limits, probes and security contexts on every
 * container, labels and selectors that match, and grace periods that cover a drain.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { MAX_RUN_SLOTS } from '../../src/config';
import { INSTALLER_UID, SANDBOX_UID } from '../../src/sandbox/protocol';

const ROOT = join(__dirname, '../../deploy/kubernetes');
const RENDERED = ['base', 'overlays/production', 'overlays/gvisor', 'prometheus-adapter', 'prometheus'];
/** Every id a sandbox can run as: the installer, and one uid per run slot (their group is the first of them). */
const SANDBOX_IDS = { first: INSTALLER_UID, last: SANDBOX_UID + MAX_RUN_SLOTS - 1 };

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Obj = any;

function render(dir: string): Obj[] {
  const text = execFileSync('kubectl', ['kustomize', join(ROOT, dir)], { encoding: 'utf8' });
  return parseAllDocuments(text).map((doc) => doc.toJS() as Obj);
}

const matches = (selector: Record<string, string>, labels: Record<string, string>) =>
  Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels[k] === v);

const envOf = (container: Obj, name: string) => (container.env ?? []).find((e: Obj) => e.name === name);

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

  it('no container runs as, and the engine socket does not belong to, an id a sandbox can have', () => {
    const inSandboxRange = (id: unknown) => typeof id === 'number' && id >= SANDBOX_IDS.first && id <= SANDBOX_IDS.last;
    for (const d of deployments) {
      const pod = d.spec.template.spec;
      const podIds = [pod.securityContext?.runAsUser, pod.securityContext?.runAsGroup, pod.securityContext?.fsGroup];
      const engine = pod.initContainers.find((c: Obj) => c.name === 'engine');
      const socketGroups = engine.args
        .filter((a: string) => a.startsWith('--group='))
        .map((a: string) => Number(a.slice('--group='.length)));
      expect(socketGroups).toHaveLength(1);
      const ids: { where: string; id: unknown }[] = [{ where: 'engine --group', id: socketGroups[0] }];
      for (const id of [...podIds, ...(pod.securityContext?.supplementalGroups ?? [])]) ids.push({ where: 'pod', id });
      for (const c of [...pod.containers, ...pod.initContainers]) {
        ids.push(
          { where: `${c.name} runAsUser`, id: c.securityContext?.runAsUser },
          { where: `${c.name} runAsGroup`, id: c.securityContext?.runAsGroup },
        );
        // Whatever talks to the engine reaches its socket by the socket's group, not by being root.
        if (c.name !== 'engine' && (c.volumeMounts ?? []).some((m: Obj) => m.name === 'engine-socket'))
          expect({ name: c.name, group: c.securityContext.runAsGroup }).toEqual({ name: c.name, group: socketGroups[0] });
      }
      expect(ids.filter(({ id }) => inSandboxRange(id))).toEqual([]);
    }
  });

  it('the server takes RUNBOX_METRICS_KEY and RUNBOX_API_KEY from the Secret, and a unique RUNBOX_INSTANCE_ID from its pod', () => {
    for (const d of deployments) {
      const server = d.spec.template.spec.containers.find((c: Obj) => c.name === 'runbox');
      expect(envOf(server, 'RUNBOX_METRICS_KEY')).toEqual({
        name: 'RUNBOX_METRICS_KEY',
        valueFrom: { secretKeyRef: { name: 'runbox-secrets', key: 'metrics-key' } },
      });
      expect(envOf(server, 'RUNBOX_API_KEY').valueFrom.secretKeyRef).toEqual({ name: 'runbox-secrets', key: 'api-key' });
      // A pod's name is unique among live pods: no two servers reap each other's sandboxes.
      expect(envOf(server, 'RUNBOX_INSTANCE_ID').valueFrom.fieldRef.fieldPath).toBe('metadata.name');
      // An annotation-driven scrape job would have no key for /metrics: the PodMonitor scrapes instead.
      expect(d.spec.template.metadata.annotations?.['prometheus.io/scrape']).toBeUndefined();
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

it('the PodMonitor scrapes the server pods with the metrics key they require, from the same Secret, in their namespace', () => {
  const monitors = render('prometheus').filter((o) => o.kind === 'PodMonitor');
  expect(monitors).toHaveLength(1);
  const deployment = render('overlays/production').find((o) => o.kind === 'Deployment');
  const server = deployment.spec.template.spec.containers.find((c: Obj) => c.name === 'runbox');
  const monitor = monitors[0];
  expect(monitor.metadata.namespace).toBe(deployment.metadata.namespace);
  expect(matches(monitor.spec.selector.matchLabels, deployment.spec.template.metadata.labels)).toBe(true);
  expect(monitor.spec.podMetricsEndpoints).toHaveLength(1);
  const endpoint = monitor.spec.podMetricsEndpoints[0];
  expect(server.ports.map((p: Obj) => p.name)).toContain(endpoint.port);
  expect(endpoint.path).toBe('/metrics');
  expect(endpoint.authorization).toEqual({ type: 'Bearer', credentials: envOf(server, 'RUNBOX_METRICS_KEY').valueFrom.secretKeyRef });
});
