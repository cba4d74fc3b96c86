package crmsync;

import java.util.Collections;
import org.apache.beam.sdk.util.construction.resources.PipelineResourcesDetector;

/**
 * A pipeline-resources detector that finds nothing: the Flink or Spark job
 * server then submits a job without its classpath (its own 150-260 MB of
 * jars, uploaded to the cluster again for every job), for a cluster whose
 * classpath already holds those jars, as `crmsync dev flink` and
 * `crmsync dev spark` set it up.
 * Chosen per job with
 * --pipeline_resources_detector_factory_class=crmsync.StageNothing
 * (the job server ignores --files_to_stage:
 * https://github.com/apache/beam/issues/20829).
 */
public class StageNothing implements PipelineResourcesDetector.Factory {
  /** How Beam makes a detector factory from its class. */
  public static StageNothing create() {
    return new StageNothing();
  }

  @Override
  public PipelineResourcesDetector getPipelineResourcesDetector() {
    return classLoader -> Collections.emptyList();
  }
}
