// The playground's microphone button: records with MediaRecorder, sends the recording to
// POST /v1/audio/transcriptions through the gateway (with the page's API key), and puts the
// text into the message box. Its own module, so the rest of the page knows only `wireMicrophone`.

const MODEL = 'whisper-1'; // the catalog's alias of the voice agent that listens (agents.md)

/** A recording format the browser has: WebM/Opus (Chromium, Firefox) or Ogg/Opus; else its default. */
function recorderOptions() {
  const types = ['audio/webm;codecs=opus', 'audio/ogg;codecs=opus', 'audio/webm'];
  const mimeType = types.find((type) => globalThis.MediaRecorder?.isTypeSupported?.(type));
  return mimeType ? { mimeType } : {};
}

/**
 * Wires `button` (idle → recording → transcribing → idle, in `data-state`) to `input`.
 * `apiKey()` is read at each use; `onError(message)` shows a failure in the page.
 */
export function wireMicrophone({ button, input, apiKey, onError }) {
  if (!navigator.mediaDevices?.getUserMedia || !globalThis.MediaRecorder) {
    button.hidden = true; // no microphone API here (e.g. an insecure origin): nothing to offer
    return;
  }
  let recorder = null;
  const setState = (state, label) => {
    button.dataset.state = state;
    button.setAttribute('aria-pressed', String(state === 'recording'));
    button.title = label;
    button.setAttribute('aria-label', label);
    button.disabled = state === 'transcribing';
  };
  setState('idle', 'Dictate: record from the microphone');

  async function start() {
    let stream;
    try {
      // Voice-call processing (echo cancellation, noise suppression, gain control) reshapes the
      // sound for a listener, not for a recognizer: the raw microphone suits pocketsphinx better.
      stream = await navigator.mediaDevices.getUserMedia({
        audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false },
      });
    } catch (err) {
      onError(`The microphone is not available: ${err.message}`);
      return;
    }
    const chunks = [];
    recorder = new MediaRecorder(stream, recorderOptions());
    recorder.addEventListener('dataavailable', (event) => {
      if (event.data.size > 0) chunks.push(event.data);
    });
    recorder.addEventListener('stop', () => {
      stream.getTracks().forEach((track) => track.stop());
      recorder = null;
      void transcribe(new Blob(chunks, { type: chunks[0]?.type || 'audio/webm' }));
    });
    recorder.start();
    setState('recording', 'Stop recording and transcribe');
  }

  async function transcribe(audio) {
    setState('transcribing', 'Transcribing…');
    try {
      const form = new FormData();
      form.append('file', audio, audio.type.includes('ogg') ? 'recording.ogg' : 'recording.webm');
      form.append('model', MODEL);
      const res = await fetch('/v1/audio/transcriptions', {
        method: 'POST',
        headers: { authorization: `Bearer ${apiKey()}` },
        body: form,
      });
      const body = await res.json().catch(() => ({}));
      if (!res.ok) throw new Error(body.error?.message || `HTTP ${res.status}`);
      const text = String(body.text ?? '').trim();
      if (!text) {
        onError('Nothing was heard in the recording.');
        return;
      }
      input.value = input.value.trim() ? `${input.value.trimEnd()} ${text}` : text;
      // The page updates its Send button (and the box its height) on input events.
      input.dispatchEvent(new Event('input', { bubbles: true }));
      input.focus();
    } catch (err) {
      onError(`Transcription failed: ${err.message}`);
    } finally {
      setState('idle', 'Dictate: record from the microphone');
    }
  }

  button.addEventListener('click', () => {
    if (recorder) recorder.stop();
    else void start();
  });
}
