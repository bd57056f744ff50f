package org.apache.spark.examples;

import java.util.List;
import java.util.Random;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;

/**
 * SparkPi [SLICES]: estimates pi by throwing 100,000 random darts per slice (default 2) at the unit square,
 * one slice per task, and prints "Pi is roughly 3.14...". The same class name and output as Spark's own
 * example, which Maven Central does not publish.
 */
public final class SparkPi
{
    private static final int DARTS_PER_SLICE = 100_000;

    public static void main(String[] args)
    {
        int slices = args.length > 0 ? Integer.parseInt(args[0]) : 2;
        SparkSession spark = SparkSession.builder().appName("Spark Pi").getOrCreate();
        JavaSparkContext jsc = new JavaSparkContext(spark.sparkContext());
        List<Integer> seeds = IntStream.range(0, slices).boxed().collect(Collectors.toList());
        long inside = jsc.parallelize(seeds, slices).map(seed -> {
            Random random = new Random(seed);
            long hits = 0;
            for (int i = 0; i < DARTS_PER_SLICE; i++)
            {
                double x = random.nextDouble() * 2 - 1;
                double y = random.nextDouble() * 2 - 1;
                if (x * x + y * y <= 1)
                    hits++;
            }
            return hits;
        }).reduce(Long::sum);
        System.out.println("Pi is roughly " + 4.0 * inside / ((long) DARTS_PER_SLICE * slices));
        spark.stop();
    }
}
