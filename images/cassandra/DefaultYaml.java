import java.io.PrintWriter;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import org.apache.cassandra.config.Config;

/**
 * Writes the defaults of this release's org.apache.cassandra.config.Config as cassandra.yaml lines: one line per
 * public, non-deprecated property whose default is a scalar (boolean, number, enum, string, or a duration, size
 * or rate spec, written as Cassandra prints and parses them, e.g. 10000ms). Properties that are unset (null),
 * nested option objects, maps and empty lists are left out: Cassandra applies their defaults itself.
 * Usage: DefaultYaml OUT_FILE [KEY_TO_SKIP...]
 */
public final class DefaultYaml
{
    public static void main(String[] args) throws Exception
    {
        Set<String> skip = new HashSet<>(Arrays.asList(args).subList(1, args.length));
        Config config = new Config();
        List<String> lines = new ArrayList<>();
        List<String> nested = new ArrayList<>();
        for (Field f : Config.class.getDeclaredFields())
        {
            int m = f.getModifiers();
            if (!Modifier.isPublic(m) || Modifier.isStatic(m) || f.isAnnotationPresent(Deprecated.class) || skip.contains(f.getName()))
                continue;
            Object v = f.get(config);
            if (v == null)
                continue;
            String s = scalar(v);
            if (s != null)
                lines.add(f.getName() + ": " + s);
            else
                nested.add(f.getName());
        }
        try (PrintWriter out = new PrintWriter(Files.newBufferedWriter(Paths.get(args[0]))))
        {
            for (String line : lines)
                out.println(line);
            out.println("# Left at the release's defaults (nested options, maps, empty lists): " + String.join(", ", nested));
        }
    }

    private static String scalar(Object v)
    {
        if (v instanceof Boolean || v instanceof Number)
            return v.toString();
        if (v instanceof Enum)
            return ((Enum<?>) v).name();
        if (v instanceof String)
            return "'" + ((String) v).replace("'", "''") + "'";
        Class<?> c = v.getClass();
        if (c.getName().startsWith("org.apache.cassandra.config.") && c.getName().contains("Spec"))
            return v.toString();
        if (v instanceof Collection && !((Collection<?>) v).isEmpty())
        {
            List<String> items = new ArrayList<>();
            for (Object item : (Collection<?>) v)
            {
                String s = scalar(item);
                if (s == null)
                    return null;
                items.add(s);
            }
            return "[" + String.join(", ", items) + "]";
        }
        return null;
    }
}
