// polyrun's PHP prelude, run with `php -r PRELUDE -- NONCE FILE MODE CODE`. It runs the user's
// CODE with eval() at the top level (so its variables are globals and its line numbers are the
// user's own), prints warnings as `Warning: ... in FILE on line N` on stderr, and, after every
// shutdown function has run, writes one report line to stderr for the host:
// "\x01polyrun:NONCE:{json}\n" — the host takes that line out of the user's stderr.
namespace Polyrun {
    final class Host
    {
        private static string $file = 'main.php';
        private static ?array $error = null;

        /** Takes the arguments, installs the handlers, returns the code to eval. */
        public static function start(): string
        {
            // The nonce lives only in the closures below: no property, global or argument the
            // guest could reach (reflection reads properties; registered shutdown functions
            // cannot be listed), so a guest cannot write a report line the host would take.
            [, $nonce, self::$file, $mode, $code] = $GLOBALS['argv'];
            $GLOBALS['argv'] = $_SERVER['argv'] = [self::$file];
            $GLOBALS['argc'] = $_SERVER['argc'] = 1;
            foreach (['PHP_SELF', 'SCRIPT_NAME', 'SCRIPT_FILENAME', 'PATH_TRANSLATED'] as $k) {
                $_SERVER[$k] = self::$file;
            }
            set_error_handler([self::class, 'onError']);
            // Registered from a shutdown function, the report runs after the user's ones.
            register_shutdown_function(static function () use ($nonce): void {
                register_shutdown_function(static function () use ($nonce): void {
                    Host::report($nonce);
                });
            });
            unset($nonce);
            return $mode === 'template' ? '?>' . $code : $code;
        }

        /** Is `$file` the user's code (eval'd by this prelude)? */
        private static function isUser(?string $file): bool
        {
            return $file !== null && str_ends_with($file, " : eval()'d code");
        }

        /** Error texts name the user's file, not the eval. */
        private static function clean(string $message): string
        {
            return preg_replace("/Command line code\(\d+\) : eval\(\)'d code/", self::$file, $message)
                ?? $message;
        }

        private static function where(string $file, int $line): string
        {
            return (self::isUser($file) ? self::$file : $file) . " on line $line";
        }

        /** Non-fatal errors: printed as PHP prints them, on stderr. */
        public static function onError(int $no, string $message, string $file = '', int $line = 0): bool
        {
            if (!(error_reporting() & $no) || $no === E_USER_ERROR || $no === E_RECOVERABLE_ERROR) {
                // Silenced with @, or fatal: PHP's own handling (fatal ones end in the report).
                return false;
            }
            $label = match ($no) {
                E_NOTICE, E_USER_NOTICE => 'Notice',
                E_DEPRECATED, E_USER_DEPRECATED => 'Deprecated',
                default => 'Warning',
            };
            fwrite(STDERR, "$label: " . self::clean($message) . ' in ' . self::where($file, $line) . "\n");
            return true;
        }

        /** An exception the user's code did not catch. */
        public static function uncaught(\Throwable $e): void
        {
            $handler = set_exception_handler(null);
            if ($handler !== null) {
                set_exception_handler($handler);
                try {
                    $handler($e);
                    return;
                } catch (\Throwable $again) {
                    $e = $again;
                }
            }
            self::$error = self::describe($e);
        }

        private static function describe(\Throwable $e): array
        {
            $trace = $e->getTrace();
            $frames = [];
            // Frame k runs trace[k]'s function, at the line where frame k-1's call was made.
            $file = $e->getFile();
            $line = $e->getLine();
            $started = false;
            foreach ($trace as $call) {
                if (!self::isUser($file) && $file !== null) {
                    if ($started) {
                        break;
                    }
                    // Raised inside the prelude (a helper): start at the user's call.
                    $file = $call['file'] ?? null;
                    $line = $call['line'] ?? 0;
                    continue;
                }
                $started = true;
                if (($call['function'] ?? '') === 'eval' && !isset($call['class'])) {
                    // The prelude's eval: the user's top level.
                    break;
                }
                $frames[] = ['function' => self::name($call), 'line' => $file === null ? null : $line];
                $file = $call['file'] ?? null;
                $line = $call['line'] ?? 0;
            }
            if (self::isUser($file)) {
                $frames[] = ['function' => '{main}', 'line' => $line];
            }
            $where = null;
            foreach ($frames as $f) {
                if ($f['line'] !== null) {
                    $where = $f['line'];
                    break;
                }
            }
            return [
                'kind' => get_class($e),
                'message' => self::clean($e->getMessage()),
                'line' => $where,
                'frames' => $frames,
            ];
        }

        private static function name(array $call): string
        {
            return isset($call['class'])
                ? $call['class'] . ($call['type'] ?? '::') . $call['function']
                : $call['function'];
        }

        /** The last shutdown function: what happened, for the host. */
        public static function report(string $nonce): void
        {
            $error = self::$error;
            $last = error_get_last();
            $fatal = E_ERROR | E_PARSE | E_CORE_ERROR | E_COMPILE_ERROR | E_USER_ERROR | E_RECOVERABLE_ERROR;
            if ($error === null && $last !== null && ($last['type'] & $fatal)) {
                $user = self::isUser($last['file']);
                $error = [
                    'kind' => $last['type'] === E_PARSE ? 'Parse error' : 'Fatal error',
                    'message' => self::clean($last['message']),
                    'line' => $user ? $last['line'] : null,
                    'frames' => [],
                ];
            }
            // The engine's Outcome: the host turns a completed run with a non-zero exit status
            // into a SystemExit error (only it knows the status).
            if ($error === null) {
                $outcome = ['status' => 'completed', 'value' => null];
            } elseif ($error['kind'] === 'Fatal error' && str_starts_with($error['message'], 'Allowed memory size of')) {
                $outcome = ['status' => 'limit_exceeded', 'limit' => 'memory'];
            } else {
                $outcome = ['status' => 'error', 'diagnostic' => $error];
            }
            $json = json_encode(
                $outcome,
                JSON_INVALID_UTF8_SUBSTITUTE | JSON_PARTIAL_OUTPUT_ON_ERROR | JSON_UNESCAPED_SLASHES
            );
            // STDERR itself: php://stderr would dup() the descriptor, which WASI cannot.
            fwrite(STDERR, "\x01polyrun:" . $nonce . ':' . $json . "\n");
        }
    }
}

namespace {
    /**
     * The polyrun helpers (docs/helpers.md). A call is a line on stderr,
     * "\x02polyrun-call:{request JSON}\n"; the host answers it before the write returns, and
     * the answer is the next line of STDIN.
     */
    final class polyrun
    {
        private const MAX_DEPTH = 128;

        /** `$value` in the shared JSON rules, or a TypeError saying why it cannot be. */
        private static function plain(mixed $value, int $depth = 0): mixed
        {
            if ($depth > self::MAX_DEPTH) {
                throw new TypeError('cannot convert to JSON: nested more than ' . self::MAX_DEPTH . ' deep (a cycle?)');
            }
            if ($value === null || is_bool($value) || is_int($value)) {
                return $value;
            }
            if (is_float($value)) {
                if (!is_finite($value)) {
                    throw new TypeError('cannot convert ' . (is_nan($value) ? 'NAN' : ($value > 0 ? 'INF' : '-INF')) . ' to JSON (not a finite number)');
                }
                return $value;
            }
            if (is_string($value)) {
                if (!mb_check_encoding($value, 'UTF-8')) {
                    throw new TypeError('cannot convert a string that is not UTF-8 text to JSON');
                }
                return $value;
            }
            if (is_array($value)) {
                $out = [];
                foreach ($value as $k => $v) {
                    $out[$k] = self::plain($v, $depth + 1);
                }
                return array_is_list($value) ? $out : (object) $out;
            }
            if ($value instanceof stdClass) {
                $out = new stdClass();
                foreach (get_object_vars($value) as $k => $v) {
                    $out->$k = self::plain($v, $depth + 1);
                }
                return $out;
            }
            if ($value instanceof JsonSerializable) {
                return self::plain($value->jsonSerialize(), $depth + 1);
            }
            $what = $value instanceof Closure ? 'a function' : 'a ' . get_debug_type($value);
            throw new TypeError("cannot convert $what to JSON");
        }

        /** Decoded JSON as PHP values: objects are arrays, except that `{}` stays an object. */
        private static function native(mixed $value): mixed
        {
            if ($value instanceof stdClass) {
                $vars = get_object_vars($value);
                return $vars === [] ? $value : array_map([self::class, 'native'], $vars);
            }
            return is_array($value) ? array_map([self::class, 'native'], $value) : $value;
        }

        private static function call(string $helper, array $request): mixed
        {
            try {
                if (array_key_exists('value', $request)) {
                    $request['value'] = self::plain($request['value']);
                }
            } catch (TypeError $e) {
                throw new TypeError("polyrun.$helper: " . $e->getMessage());
            }
            $text = json_encode($request, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_PRESERVE_ZERO_FRACTION);
            fwrite(STDERR, "\x02polyrun-call:" . $text . "\n");
            $line = fgets(STDIN);
            $reply = $line === false ? null : json_decode($line, false);
            if (!$reply instanceof stdClass) {
                throw new RuntimeException("polyrun.$helper: no answer from the host");
            }
            if (property_exists($reply, 'error')) {
                throw new RuntimeException("polyrun.$helper: " . $reply->error);
            }
            return self::native($reply->ok ?? null);
        }

        private static function name(string $helper, mixed $name): string
        {
            if (!is_string($name)) {
                throw new TypeError("polyrun.$helper: the variable name must be a string");
            }
            return $name;
        }

        /** The step's input data. */
        public static function input(): mixed
        {
            return self::call('input', ['op' => 'input']);
        }

        /** The run's context: run_id, pipeline, step, trigger, started_at, metadata. */
        public static function event(): mixed
        {
            return self::call('event', ['op' => 'event']);
        }

        /** Publishes the step's output (the last call wins). */
        public static function output(mixed $value): void
        {
            self::call('output', ['op' => 'output', 'value' => $value]);
        }

        /** A variable's value, null when unset. */
        public static function getVariable(mixed $name): mixed
        {
            return self::call('getVariable', ['op' => 'get_variable', 'name' => self::name('getVariable', $name)]);
        }

        /** Sets a variable. */
        public static function setVariable(mixed $name, mixed $value): void
        {
            self::call('setVariable', ['op' => 'set_variable', 'name' => self::name('setVariable', $name), 'value' => $value]);
        }

        /** Atomically replaces a variable with $f(current); $f may run more than once. */
        public static function updateVariable(mixed $name, callable $f): mixed
        {
            $name = self::name('updateVariable', $name);
            for (;;) {
                $r = self::call('updateVariable', ['op' => 'read_variable', 'name' => $name]);
                $value = $f($r['value']);
                $swap = ['op' => 'swap_variable', 'name' => $name, 'version' => $r['version'], 'value' => $value];
                if (self::call('updateVariable', $swap)) {
                    return $value;
                }
            }
        }

        public static function get_variable(mixed $name): mixed
        {
            return self::getVariable($name);
        }

        public static function set_variable(mixed $name, mixed $value): void
        {
            self::setVariable($name, $value);
        }

        public static function update_variable(mixed $name, callable $f): mixed
        {
            return self::updateVariable($name, $f);
        }
    }

    if (!function_exists('readline')) {
        /** Reads a line of stdin (without its end of line); false at the end of input. */
        function readline(?string $prompt = null): string|false
        {
            if ($prompt !== null && $prompt !== '') {
                echo $prompt;
            }
            $line = fgets(STDIN);
            return $line === false ? false : rtrim($line, "\r\n");
        }
    }
    try {
        eval(\Polyrun\Host::start());
    } catch (\Throwable $polyrun_uncaught) {
        \Polyrun\Host::uncaught($polyrun_uncaught);
        unset($polyrun_uncaught);
    }
}
