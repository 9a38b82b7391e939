// polyrun's PHP prelude, run with `php -r PRELUDE -- NONCE FILE MODE CODE`. It runs the user's
// CODE with eval() at the top level (so its variables are globals and its line numbers are the
// user's own), prints warnings as `Warning: ... in FILE on line N` on stderr, and, after every
// shutdown function has run, writes one report line to stderr for the host:
// "\x01polyrun:NONCE:{json}\n" — the host takes that line out of the user's stderr.
namespace Polyrun {
    final class Host
    {
        private static string $nonce = '';
        private static string $file = 'main.php';
        private static ?array $error = null;

        /** Takes the arguments, installs the handlers, returns the code to eval. */
        public static function start(): string
        {
            [, self::$nonce, self::$file, $mode, $code] = $GLOBALS['argv'];
            $GLOBALS['argv'] = $_SERVER['argv'] = [self::$file];
            $GLOBALS['argc'] = $_SERVER['argc'] = 1;
            foreach (['PHP_SELF', 'SCRIPT_NAME', 'SCRIPT_FILENAME', 'PATH_TRANSLATED'] as $k) {
                $_SERVER[$k] = self::$file;
            }
            set_error_handler([self::class, 'onError']);
            // Registered from a shutdown function, the report runs after the user's ones.
            register_shutdown_function(static function (): void {
                register_shutdown_function([Host::class, 'report']);
            });
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
            foreach ($trace as $call) {
                if (!self::isUser($file) && $file !== null) {
                    break;
                }
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
        public static function report(): void
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
            $json = json_encode(
                ['error' => $error],
                JSON_INVALID_UTF8_SUBSTITUTE | JSON_PARTIAL_OUTPUT_ON_ERROR | JSON_UNESCAPED_SLASHES
            );
            // STDERR itself: php://stderr would dup() the descriptor, which WASI cannot.
            fwrite(STDERR, "\x01polyrun:" . self::$nonce . ':' . $json . "\n");
        }
    }
}

namespace {
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
