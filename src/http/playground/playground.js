// The runbox playground: an editor, a run button, and the run's output live (POST /v1/runs as Server-Sent
// Events). Everything the program produced is put on the page as text (textContent) or as an image from
// its bytes, never as markup: the program is untrusted.
(function () {
  'use strict';

  var EXAMPLE = [
    'import time',
    'import matplotlib.pyplot as plt',
    '',
    'print("Hello from the sandbox!", flush=True)',
    'time.sleep(1)',
    'xs = list(range(10))',
    'plt.plot(xs, [x * x for x in xs], marker="o")',
    'plt.title("squares")',
    'plt.show()  # saved as output/figure-1.png',
    'print("done")',
    '',
  ].join('\n');

  var $ = function (id) {
    return document.getElementById(id);
  };
  var output = $('output');
  var statusLine = $('status');
  var artifacts = $('artifacts');
  var keyInput = $('key');
  var controller = null;

  ace.config.set('basePath', '/playground/assets/ace');
  var editor = ace.edit('editor', {
    mode: 'ace/mode/python',
    theme: 'ace/theme/github',
    value: EXAMPLE,
    useWorker: false,
    tabSize: 4,
    useSoftTabs: true,
    showPrintMargin: false,
  });
  window.playgroundEditor = editor;
  editor.commands.addCommand({
    name: 'run',
    bindKey: { win: 'Ctrl-Enter', mac: 'Command-Enter' },
    exec: function () {
      run();
    },
  });

  // The key lives in this tab's session only: gone when the tab closes, never sent anywhere but here.
  keyInput.value = sessionStorage.getItem('runbox-key') || '';
  keyInput.addEventListener('input', function () {
    sessionStorage.setItem('runbox-key', keyInput.value);
  });

  function setStatus(text, kind) {
    statusLine.textContent = text;
    statusLine.className = 'status' + (kind ? ' ' + kind : '');
    statusLine.dataset.state = kind || '';
  }

  function append(text, kind) {
    var span = document.createElement('span');
    if (kind) span.className = kind;
    span.textContent = text;
    output.appendChild(span);
    output.scrollTop = output.scrollHeight;
  }

  function bytesOf(content, encoding) {
    if (encoding !== 'base64') return new TextEncoder().encode(content);
    var binary = atob(content);
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes;
  }

  /** Each chunk holds whole characters (the server splits only between them), so each decodes alone. */
  function chunkText(data) {
    return data.encoding === 'base64' ? new TextDecoder().decode(bytesOf(data.content, 'base64')) : data.content;
  }

  var IMAGE = /^image\/(png|jpeg|gif|webp|svg\+xml)$/;
  /** The blob: URLs of the results on the page, revoked when a new run replaces them so their bytes are freed. */
  var objectUrls = [];

  function objectUrl(bytes, type) {
    var url = URL.createObjectURL(new Blob([bytes], { type: type }));
    objectUrls.push(url);
    return url;
  }

  function clearArtifacts() {
    artifacts.textContent = '';
    objectUrls.forEach(function (url) {
      URL.revokeObjectURL(url);
    });
    objectUrls = [];
  }

  /** Built in linear time from what came (no btoa of a spread of bytes, which throws for a file of a few MB). */
  function imageSource(artifact, bytes) {
    // A raster image's blob: URL, opened in a tab of its own, is only an image.
    if (artifact.mime_type !== 'image/svg+xml') return objectUrl(bytes, artifact.mime_type);
    // An SVG's would be a document of this origin (its scripts beside the key), so an SVG is a data: URL:
    // browsers refuse to navigate to those.
    return artifact.encoding === 'base64'
      ? 'data:image/svg+xml;base64,' + artifact.content
      : 'data:image/svg+xml;charset=utf-8,' + encodeURIComponent(artifact.content);
  }

  function showArtifacts(list) {
    clearArtifacts();
    list.forEach(function (artifact) {
      var bytes = bytesOf(artifact.content, artifact.encoding);
      var figure = document.createElement('figure');
      if (IMAGE.test(artifact.mime_type)) {
        var img = document.createElement('img');
        img.src = imageSource(artifact, bytes);
        img.alt = artifact.path;
        figure.appendChild(img);
      }
      var caption = document.createElement('figcaption');
      var link = document.createElement('a');
      // Downloads are opaque bytes whatever the file is, so the browser saves them and never renders them here.
      link.href = objectUrl(bytes, 'application/octet-stream');
      link.download = artifact.path.split('/').pop();
      link.textContent = artifact.path + ' (' + artifact.mime_type + ', ' + artifact.size + ' bytes)';
      caption.appendChild(link);
      figure.appendChild(caption);
      artifacts.appendChild(figure);
    });
  }

  function finish(result) {
    var exit = result.exit_code === null ? 'no exit code' : 'exit code ' + result.exit_code;
    var words = { ok: 'Finished', error: 'Failed', timeout: 'Timed out', oom: 'Out of memory', output_limit: 'Too much output' };
    setStatus(
      words[result.status] +
        ': ' +
        exit +
        ', ' +
        result.duration_ms +
        ' ms' +
        (result.queued_ms ? ' (queued ' + result.queued_ms + ' ms)' : '') +
        (result.usage ? ', CPU ' + result.usage.cpu_ms + ' ms, peak memory ' + Math.round(result.usage.max_rss_kb / 1024) + ' MB' : ''),
      result.status,
    );
    showArtifacts(result.artifacts);
    if (result.artifacts_truncated) append('\n[some files in output/ were not returned]\n', 'note');
  }

  function onEvent(name, data) {
    if (name === 'start') setStatus('Running…', 'running');
    else if (name === 'stdout' || name === 'stderr') {
      append(chunkText(data), name === 'stderr' ? 'stderr' : '');
      if (data.truncated) append('\n[' + name + ' cut: over the output limit]\n', 'note');
    } else if (name === 'result') finish(data);
    else if (name === 'error') setStatus('Service error (' + data.code + '): ' + data.message, 'failed');
    if (name === 'result' || name === 'error') ended = true;
  }

  /** Whether the current run's stream brought its last event (a result or an error). */
  var ended = false;

  // A minimal Server-Sent Events reader: EventSource cannot POST.
  function readEvents(body) {
    var reader = body.getReader();
    var decoder = new TextDecoder();
    var buffer = '';
    // Where the search for an event's end resumes: a result with large artifacts comes in hundreds of chunks,
    // and searching it from its start after each one would take quadratic time.
    var scanned = 0;
    function dispatch(block) {
      var name = 'message';
      var data = [];
      block.split('\n').forEach(function (line) {
        if (line.indexOf('event:') === 0) name = line.slice(6).trim();
        else if (line.indexOf('data:') === 0) data.push(line.slice(5).replace(/^ /, ''));
      });
      if (!data.length) return;
      var payload;
      try {
        payload = JSON.parse(data.join('\n'));
      } catch {
        throw new Error('the server sent an event that is not JSON');
      }
      onEvent(name, payload);
    }
    function pump() {
      return reader.read().then(function (step) {
        if (step.done) {
          if (!ended) setStatus('The connection ended before the run did.', 'failed');
          return;
        }
        buffer += decoder.decode(step.value, { stream: true }).replace(/\r\n?/g, '\n');
        var at;
        while ((at = buffer.indexOf('\n\n', scanned)) >= 0) {
          dispatch(buffer.slice(0, at));
          buffer = buffer.slice(at + 2);
          scanned = 0;
        }
        scanned = Math.max(0, buffer.length - 1);
        return pump();
      });
    }
    return pump();
  }

  function run() {
    if (controller) return;
    output.textContent = '';
    clearArtifacts();
    ended = false;
    setStatus('Waiting for a run slot…', 'queued');
    var body = { code: editor.getValue() };
    if ($('timeout').value) body.timeout_ms = Math.round(Number($('timeout').value) * 1000);
    if ($('memory').value) body.memory_mb = Number($('memory').value);
    var headers = { 'content-type': 'application/json', accept: 'text/event-stream' };
    if (keyInput.value) headers.authorization = 'Bearer ' + keyInput.value;
    controller = new AbortController();
    $('run').disabled = true;
    $('stop').disabled = false;
    fetch('/v1/runs', { method: 'POST', headers: headers, body: JSON.stringify(body), signal: controller.signal })
      .then(function (res) {
        var type = res.headers.get('content-type') || '';
        if (type.indexOf('text/event-stream') === 0) return readEvents(res.body);
        return res.json().then(function (answer) {
          var error = answer.error || { code: 'http_' + res.status, message: res.statusText };
          setStatus('Refused (' + res.status + ' ' + error.code + '): ' + error.message, 'failed');
        });
      })
      .catch(function (err) {
        if (err.name === 'AbortError') setStatus('Stopped.', 'failed');
        else if (err instanceof TypeError) setStatus('Could not reach runbox: ' + err.message, 'failed');
        else setStatus('Error: ' + err.message, 'failed');
      })
      .then(function () {
        controller = null;
        $('run').disabled = false;
        $('stop').disabled = true;
      });
  }

  $('run').addEventListener('click', run);
  $('stop').addEventListener('click', function () {
    if (controller) controller.abort();
  });

  fetch('/')
    .then(function (res) {
      return res.json();
    })
    .then(function (about) {
      var l = about.limits;
      $('limits').textContent =
        'runbox ' +
        about.version +
        ' · timeout ' +
        l.default_timeout_ms / 1000 +
        ' s by default (up to ' +
        l.max_timeout_ms / 1000 +
        ' s) · memory ' +
        l.default_memory_mb +
        ' MB (up to ' +
        l.max_memory_mb +
        ' MB) · ' +
        'save files under output/ to get them back' +
        (about.auth === 'api_key' ? ' · this server needs an API key' : '');
    })
    .catch(function () {
      /* the page works without the limits line */
    });
})();
