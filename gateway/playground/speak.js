// The speak button of an assistant answer: says the answer through POST /v1/audio/speech (a
// voice agent of the catalog, over the bus like chat) and plays it in an <audio> element.
// Self-contained: the page hands it the answer's text and a way to read the API key; the speech
// model is the first one /v1/models lists with kind "speech" (an alias such as tts-1).

const SPEECH_MAX_CHARS = 4096; // one speech request's limit (OpenAI's)
const models = new Map(); // API key → Promise of the speech model name, or null

async function speechModelFor(key) {
  const res = await fetch('/v1/models', { headers: { authorization: `Bearer ${key}` } });
  if (!res.ok) return null;
  const { data } = await res.json();
  return (Array.isArray(data) ? data : []).find((model) => model.kind === 'speech')?.id ?? null;
}

async function fetchSpeech(text, key) {
  if (!models.has(key)) models.set(key, speechModelFor(key));
  // A lookup that failed (the gateway restarting, say) is asked again next time, not remembered.
  const model = await models.get(key).catch((err) => {
    models.delete(key);
    throw err;
  });
  if (!model) {
    models.delete(key); // asked again next time: the catalog or the key may change
    throw new Error('No speech model for this API key: the catalog needs a voice agent ("speech").');
  }
  const res = await fetch('/v1/audio/speech', {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model, input: text.slice(0, SPEECH_MAX_CHARS), voice: 'alloy', response_format: 'wav' }),
  });
  if (!res.ok) {
    const body = await res.json().catch(() => ({}));
    throw new Error(body.error?.message ?? `The gateway answered ${res.status}.`);
  }
  return res.blob();
}

/**
 * Adds a Speak button under an answer. The first click fetches the speech and plays it; later
 * clicks pause or replay the same audio. `data-state` on the button says where it is (loading,
 * playing, ended, error), for people and tests alike.
 */
export function addSpeakButton(container, text, apiKey) {
  const box = document.createElement('div');
  box.className = 'speak';
  const button = document.createElement('button');
  button.type = 'button';
  button.className = 'btn btn-ghost btn-small speak-button';
  button.dataset.testid = 'speak-button';
  button.textContent = 'Speak';
  button.title = 'Read this answer aloud (POST /v1/audio/speech)';
  const note = document.createElement('span');
  note.className = 'speak-error';
  box.append(button, note);
  container.append(box);
  let audio = null;
  button.addEventListener('click', async () => {
    if (audio) {
      if (!audio.paused) return audio.pause();
      if (audio.ended) audio.currentTime = 0;
      return audio.play().catch(() => undefined);
    }
    button.disabled = true;
    button.dataset.state = 'loading';
    note.textContent = '';
    try {
      const blob = await fetchSpeech(text, apiKey());
      audio = document.createElement('audio');
      audio.controls = true;
      audio.dataset.testid = 'speak-audio';
      audio.addEventListener('playing', () => (button.dataset.state = 'playing'));
      audio.addEventListener('ended', () => (button.dataset.state = 'ended'));
      audio.src = URL.createObjectURL(blob);
      box.append(audio);
      await audio.play();
    } catch (err) {
      button.dataset.state = 'error';
      note.textContent = err instanceof Error ? err.message : String(err);
    } finally {
      button.disabled = false;
    }
  });
}
