import java.net.URL;

import org.apache.cassandra.config.Config;
import org.apache.cassandra.config.YamlConfigurationLoader;

/**
 * Loads a cassandra.yaml with the release's own loader, as a node does first at start: a key the release does not
 * know, or a value it cannot convert, is refused (ConfigurationException, exit status 1).
 * Usage: LoadYaml FILE
 */
public final class LoadYaml
{
    public static void main(String[] args) throws Exception
    {
        Config config = new YamlConfigurationLoader().loadConfig(new URL("file://" + args[0]));
        System.out.println("loaded " + args[0] + ": partitioner " + config.partitioner + ", commitlog_sync "
                           + config.commitlog_sync + ", cluster_name " + config.cluster_name);
    }
}
