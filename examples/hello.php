<?php
// polyrun sample: PHP 8.2 (php.wasm, built from Debian's source on first use).
$name = "polyrun";
echo "Hello from $name!\n";
foreach (["JavaScript", "Lua", "Python", "Ruby", "PHP"] as $i => $lang) {
    printf("%d. %s\n", $i + 1, $lang);
}
