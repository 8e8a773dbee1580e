import t from 'tap';
import { earlierAttempts } from '../../gateway/call/earlier-attempts.js';

t.test('no earlier attempt: nothing to add', async (t) => {
  t.equal(earlierAttempts({ message: 'down' }, []), '');
});

t.test('each attempt failed as the last did: said once', async (t) => {
  const down = 'Ollama at http://127.0.0.1:11434 is not reachable (OLLAMA_URL).';
  t.equal(
    earlierAttempts({ message: down, agent: 'testing' }, [{ message: down, agent: 'testing' }]),
    ' (this was the second attempt; the first failed the same way)',
  );
  t.equal(
    earlierAttempts({ message: down }, [{ message: down }, { message: down }]),
    ' (this was the third attempt; each before it failed the same way)',
  );
});

t.test('different failures, or another agent: each one named', async (t) => {
  t.equal(
    earlierAttempts({ message: 'nobody B', agent: 'b' }, [{ message: 'nobody A', agent: 'a' }]),
    ' (this was the second attempt; before it: a: nobody A)',
  );
  t.equal(
    earlierAttempts({ message: 'down', agent: 'fallback' }, [{ message: 'down', agent: 'testing' }]),
    ' (this was the second attempt; before it: testing: down)',
    'the same words from another agent are news',
  );
  t.equal(
    earlierAttempts({ message: 'none' }, [{ message: 'busy' }]),
    ' (this was the second attempt; before it: busy)',
  );
});
