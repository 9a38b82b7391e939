<?php
$inside = 0;
for ($y = 0; $y < $N; $y++) {
    $ci = (2.5 * $y) / $N - 1.25;
    for ($x = 0; $x < $N; $x++) {
        $cr = (2.5 * $x) / $N - 2.0;
        $zr = 0.0; $zi = 0.0; $i = 0;
        while ($i < 50 && $zr * $zr + $zi * $zi <= 4.0) {
            $t = $zr * $zr - $zi * $zi + $cr;
            $zi = 2.0 * $zr * $zi + $ci;
            $zr = $t;
            $i++;
        }
        if ($i == 50) $inside++;
    }
}
echo "mandelbrot " . $N . ": " . $inside . " inside\n";
