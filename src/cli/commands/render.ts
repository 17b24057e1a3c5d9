import { Command, Option } from 'commander';
import { replicasArg } from '../parse.js';
import { MAX_RENDER_REPLICAS } from '../../deploy/render-options.js';

export function registerRender(program: Command): void {
  program
    .command('render')
    .description('Write the Kubernetes manifests of a cache-aware deployment (kustomize-ready), with the scorer weights you choose')
    .option('--name <name>', '(required) deployment name (DNS-1035 label: lower-case letters, digits, \'-\', starting with a letter; ≤ 50 characters)')
    .option('--namespace <ns>', '(required) workload namespace (rendered with istio-injection: enabled)')
    .option('--model <model>', '(required) model to serve, e.g. Qwen/Qwen2.5-3B-Instruct')
    .option('--replicas <n>', 'model-server replicas', replicasArg('--replicas', MAX_RENDER_REPLICAS, "so the HPA's maxReplicas, twice it, fits Kubernetes' int32"), 3)
    .option('--preset <name>', 'routing preset for the EPP config; the default reproduces the seed deployment this command renders (prefix 2, load 1), where serve, up and epp default to kvgate', 'seed')
    .option('--config-file <file>', 'EndpointPickerConfig YAML (instead of --preset)')
    .addOption(new Option('--accelerator <kind>', 'accelerator of the model servers').choices(['tpu-v6e', 'nvidia-h100', 'nvidia-l4']).default('tpu-v6e'))
    .option('--kserve', "the seed's KServe variant: an LLMInferenceService with kvgate as its scheduler, the three EnvoyFilters, an HTTPRoute for /health and /v1/models", false)
    .option('--gateway-name <name>', 'with --kserve: the Gateway KServe routes through', 'inference-gateway')
    .option('--gateway-namespace <ns>', 'with --kserve: its namespace (the EnvoyFilters go there)', 'opendatahub')
    .option('--strict-mtls', 'add a namespace-wide PeerAuthentication in STRICT mode', false)
    .option('--no-network-policies', "leave out the seed's four NetworkPolicies")
    .option('--monitoring', 'also a Grafana dashboard (grafana-dashboard.json and a ConfigMap for the Grafana sidecar), a PrometheusRule with alerts and an EPP PodMonitor (docs/monitoring.md)', false)
    .addOption(new Option('--autoscaler <kind>', 'autoscaler of the model servers, on engine + gateway queue per replica: an HPA (needs the Prometheus adapter rule written beside the manifests), a KEDA ScaledObject, or none; without --kserve (KServe scales its own workload)').choices(['hpa', 'keda', 'none']).default('hpa'))
    .option('--prometheus-url <url>', 'with --autoscaler keda: the Prometheus (http or https URL) the KEDA scaler queries', 'http://prometheus-operated.monitoring.svc:9090')
    .option('--runbook-base-url <url>', "with --monitoring: absolute http(s) URL of the runbook page (docs/monitoring.md as your team reads it); each alert's runbook_url is it plus #alert-name (default: the relative docs/monitoring.md#alert-name)")
    .option('--image <image>', 'kvgate image for the EPP (npm run image builds kvgate:VERSION)', 'kvgate:0.1.0')
    .option('--model-server-image <image>', 'vLLM image (default per accelerator); without --kserve (KServe picks its own)')
    .option('--gateway-class <name>', 'GatewayClass of the Gateway (without --kserve)', 'istio')
    .option('-o, --output <dir>', 'output directory, or - for one YAML stream on stdout', 'kvgate-manifests')
    .action(async (o, cmd: Command) => {
      const { writeFileSync, readFileSync, statSync } = await import('node:fs');
      const { KvgateError, ErrorCode } = await import('../../shared/errors.js');
      // Each variant renders its own Gateway: --kserve routes through an existing one (--gateway-name,
      // --gateway-namespace); without it kvgate renders NAME-gateway of --gateway-class in --namespace.
      // KServe also owns the vLLM workload (its image, its scaling), and --prometheus-url only feeds
      // the KEDA scaler. A flag whose object is not rendered would be dropped without a trace, so it
      // is an error.
      const given = (key: string) => cmd.getOptionValueSource(key) === 'cli';
      if (o.kserve) {
        const kserveOwned = [['gatewayClass', '--gateway-class'], ['modelServerImage', '--model-server-image'], ['autoscaler', '--autoscaler'], ['prometheusUrl', '--prometheus-url']].filter(([key]) => given(key)).map(([, flag]) => flag);
        if (kserveOwned.length) {
          const why = kserveOwned[0] === '--gateway-class' ? 'with --kserve the routes go through the existing Gateway --gateway-name in --gateway-namespace' : 'with --kserve, KServe creates the vLLM workload (image and scaling) from the LLMInferenceService';
          throw new KvgateError(ErrorCode.InvalidConfig, `${kserveOwned[0]} applies without --kserve only: ${why}`, { param: kserveOwned[0] });
        }
      } else {
        const misplaced = [['gatewayName', '--gateway-name'], ['gatewayNamespace', '--gateway-namespace']].filter(([key]) => given(key)).map(([, flag]) => flag);
        if (misplaced.length) {
          throw new KvgateError(ErrorCode.InvalidConfig, `${misplaced.join(' and ')} ${misplaced.length > 1 ? 'apply' : 'applies'} with --kserve only: without it kvgate renders its own Gateway, ${o.name ?? 'NAME'}-gateway of --gateway-class in --namespace`, { param: misplaced[0] });
        }
        if (given('prometheusUrl') && o.autoscaler !== 'keda') {
          throw new KvgateError(ErrorCode.InvalidConfig, `--prometheus-url applies with --autoscaler keda only (the KEDA scaler queries it); with --autoscaler ${o.autoscaler} it would be ignored`, { param: '--prometheus-url' });
        }
      }
      // All missing required flags in one message (commander's requiredOption names only the first).
      const missing = ['--name', '--namespace', '--model'].filter((f) => o[f.slice(2)] === undefined);
      if (missing.length) throw new KvgateError(ErrorCode.InvalidConfig, `${missing.join(', ')}: required but not given`);
      // An empty --output (an unset variable in -o "$DIR") wrote the manifests into the working
      // directory and printed "wrote … to /:" and "kubectl apply -k " with no path.
      if (o.output.trim() === '') throw new KvgateError(ErrorCode.InvalidConfig, '--output is empty: give a directory (created when absent) or - for stdout', { param: '--output' });
      if (o.output !== '-') {
        let isFile = false;
        try {
          isFile = !statSync(o.output).isDirectory();
        } catch {
          /* absent: created below */
        }
        if (isFile) throw new KvgateError(ErrorCode.InvalidConfig, `--output: ${o.output} is a file; give a directory (created when absent) or - for stdout`, { param: '--output' });
      }
      const { join } = await import('node:path');
      const { loadConfig, presetText } = await import('../../router/index.js');
      const { renderManifests, kustomization, toYaml, monitoringOptions } = await import('../../deploy/render.js');
      const { checkReadableFiles } = await import('../options.js');
      // Validate the routing config before writing anything; ship it as written. Errors name the
      // flag, as serve's and epp's do ("--config-file: cannot read x.yaml: no such file").
      // As serve, epp and up: an explicit --preset beside --config-file was dropped without a word.
      if (o.configFile !== undefined && given('preset')) throw new KvgateError(ErrorCode.InvalidConfig, 'give --preset or --config-file, not both', { param: '--preset' });
      await checkReadableFiles({ '--config-file': o.configFile });
      let checked;
      try {
        checked = o.configFile ? loadConfig({ file: o.configFile }) : loadConfig({ preset: o.preset });
      } catch (err) {
        const flag = o.configFile ? '--config-file' : '--preset';
        throw err instanceof KvgateError ? new KvgateError(err.code, `${flag}: ${err.message}`, { param: flag }) : err;
      }
      // The file is shipped as written, in a ConfigMap: not the place for a key.
      if (checked.upstreamApiKey !== undefined) {
        throw new KvgateError(ErrorCode.InvalidConfig, `--config-file: ${o.configFile} sets upstreamApiKey, which would be written into the EPP's ConfigMap in clear: remove it and give the EPP the key through $KVGATE_UPSTREAM_API_KEY from a Secret`, { param: '--config-file' });
      }
      const eppConfig = o.configFile ? readFileSync(o.configFile, 'utf8') : presetText(o.preset);
      const opts = {
        name: o.name,
        namespace: o.namespace,
        model: o.model,
        replicas: o.replicas,
        accelerator: o.accelerator,
        eppConfig,
        eppImage: o.image,
        modelServerImage: o.modelServerImage,
        kserve: o.kserve,
        gatewayClassName: o.gatewayClass,
        strictMtls: o.strictMtls,
        networkPolicies: o.networkPolicies,
        gatewayName: o.gatewayName,
        gatewayNamespace: o.gatewayNamespace,
        monitoring: o.monitoring,
        autoscaler: o.autoscaler,
        prometheusUrl: o.prometheusUrl,
        runbookBaseUrl: o.runbookBaseUrl,
      };
      const files = renderManifests(opts);
      if (o.output === '-') {
        process.stdout.write([...files.values()].map(toYaml).join('---\n'));
        return;
      }
      const { makeDirs } = await import('../../shared/make-dir.js');
      const why = (err: unknown) => {
        const e = err as NodeJS.ErrnoException;
        return e.code ? `${e.code} (${e.message.replace(/^[A-Z]+: /, '')})` : e.message;
      };
      try {
        // Not mkdirSync({ recursive: true }): on Node 20 it never returns for /proc/x (see makeDirs).
        makeDirs(o.output);
      } catch (err) {
        throw new KvgateError(ErrorCode.InvalidConfig, `--output: cannot create ${o.output}: ${why(err)}`, { param: '--output' });
      }
      const write = (f: string, text: string) => {
        try {
          writeFileSync(join(o.output, f), text);
        } catch (err) {
          throw new KvgateError(ErrorCode.InvalidConfig, `--output: cannot write ${join(o.output, f)}: ${why(err)}`, { param: '--output' });
        }
      };
      for (const [f, objs] of files) write(f, toYaml(objs));
      write('kustomization.yaml', kustomization([...files.keys()]));
      const written = [...files.keys(), 'kustomization.yaml'];
      if (o.monitoring) {
        const { grafanaDashboard } = await import('../../deploy/monitoring.js');
        write('grafana-dashboard.json', `${JSON.stringify(grafanaDashboard(monitoringOptions(opts)), null, 2)}\n`);
        written.push('grafana-dashboard.json');
      }
      if (o.autoscaler === 'hpa' && !o.kserve) {
        const { prometheusAdapterRule } = await import('../../deploy/autoscaling.js');
        write('prometheus-adapter-rule.yaml', prometheusAdapterRule(o.name, o.namespace));
        written.push('prometheus-adapter-rule.yaml');
      }
      // "-o manifests/" printed "manifests//:".
      process.stdout.write(`wrote ${written.length} files to ${o.output.replace(/\/+$/, '')}/:\n${written.map((f) => `  ${f}`).join('\n')}\napply: kubectl apply -k ${o.output}\n`);
      if (o.kserve) process.stdout.write(`the EnvoyFilters go to namespace ${o.gatewayNamespace}; check afterwards: kubectl get envoyfilter -n ${o.gatewayNamespace}\n`);
    });
}
